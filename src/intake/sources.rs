//! Where messages come from on disk: one `.eml` file, a Maildir (`new/`, `cur/`), or a folder
//! of `.eml` files. A Maildir message moves from `new/` to `cur/` only after its outcome is
//! committed, so a crash leaves it in `new/` for the next run (which the store deduplicates).

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub path: PathBuf,
    /// Set for a Maildir `new/` message: where it goes once processed.
    pub move_to: Option<PathBuf>,
}

fn is_maildir(dir: &Path) -> bool {
    dir.join("new").is_dir() && dir.join("cur").is_dir()
}

fn files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let hidden = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
        if path.is_file() && !hidden {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The messages under `path`, in a stable order. Errors only when `path` cannot be read.
pub fn list(path: &Path) -> std::io::Result<Vec<Source>> {
    let meta = std::fs::metadata(path)?;
    if meta.is_file() {
        return Ok(vec![Source { path: path.to_path_buf(), move_to: None }]);
    }
    if is_maildir(path) {
        let mut out = Vec::new();
        for f in files_in(&path.join("cur"))? {
            out.push(Source { path: f, move_to: None });
        }
        for f in files_in(&path.join("new"))? {
            let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            // Maildir info suffix: ":2," plus flags; "S" marks the message seen.
            let target = path.join("cur").join(format!("{name}:2,S"));
            out.push(Source { path: f, move_to: Some(target) });
        }
        return Ok(out);
    }
    let files = files_in(path)?;
    Ok(files
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e.eq_ignore_ascii_case("eml")))
        .map(|f| Source { path: f, move_to: None })
        .collect())
}
