//! Reading the project's data folders (`rules/`, `rules/tests/`, `workflows/`).

use std::path::{Path, PathBuf};

/// Files in `dir` whose name ends in `.EXT`, sorted by path so that loading order and
/// error order do not depend on the file system.
pub fn files_with_extension(dir: &Path, ext: &str) -> std::io::Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    paths.sort();
    Ok(paths)
}
