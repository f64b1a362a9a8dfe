//! A policy version: every file the rules are made of (`*.rhai` and `data/*.txt`), as text,
//! named by one content hash. It is what a proposal carries, what the database keeps and
//! what activation compiles, so the rules in force are data with a history, not a folder's
//! state at some moment. Pure: the folder is read once into it ([`PolicyFiles::read`]).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::RulesError;
use super::lists::HostLists;

/// Where a policy version stands. Exactly one is in force at a time (a unique index).
pub mod policy_state {
    /// Waiting for a second person (not its proposer) to approve or reject it.
    pub const PROPOSED: &str = "proposed";
    pub const IN_FORCE: &str = "in_force";
    /// Was in force until another version was activated.
    pub const SUPERSEDED: &str = "superseded";
    pub const REJECTED: &str = "rejected";
}

/// Largest policy accepted (all files together): scripts and host lists are small text.
pub const MAX_POLICY_BYTES: usize = 4 * 1024 * 1024;

/// The files of a policy by relative path (`initial_limit.rhai`, `data/free_mail_domains.txt`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PolicyFiles(pub BTreeMap<String, String>);

impl PolicyFiles {
    /// The `*.rhai` files of `dir` and the host lists of `dir/data/`.
    pub fn read(dir: &Path) -> Result<PolicyFiles, Vec<RulesError>> {
        let io = |p: &Path, e: String| vec![RulesError::Io { path: p.display().to_string(), message: e }];
        let mut files = BTreeMap::new();
        let mut size = 0;
        let scripts = crate::folders::files_with_extension(dir, "rhai").map_err(|e| io(dir, e.to_string()))?;
        let data = dir.join("data");
        let lists = HostLists::ALL_FILES.iter().map(|name| data.join(name));
        for path in scripts.into_iter().chain(lists) {
            // A folder without the optional list is read like a stored version without it.
            if path.ends_with(HostLists::MATERIAL_FILE) && !path.exists() {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e.to_string()))?;
            size += text.len();
            if size > MAX_POLICY_BYTES {
                return Err(io(dir, format!("the rules are larger than {MAX_POLICY_BYTES} bytes")));
            }
            let relative = path.strip_prefix(dir).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            files.insert(relative, text);
        }
        Ok(PolicyFiles(files))
    }

    /// The policy's version: SHA-256 over every path and text, in path order.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        for (path, text) in &self.0 {
            h.update((path.len() as u64).to_be_bytes());
            h.update(path.as_bytes());
            h.update((text.len() as u64).to_be_bytes());
            h.update(text.as_bytes());
        }
        hex::encode(h.finalize())
    }

    /// Each rule's name, its version (the SHA-256 of its source, as decisions record it) and
    /// its source.
    pub fn rules(&self) -> impl Iterator<Item = (&str, String, &str)> {
        self.0.iter().filter_map(|(path, text)| {
            let name = path.strip_suffix(".rhai").filter(|n| !n.contains('/'))?;
            Some((name, rule_version(text), text.as_str()))
        })
    }

    /// A host list's text (`data/<name>`), if the policy has it.
    pub fn data(&self, name: &str) -> Option<&str> {
        self.0.get(&format!("data/{name}")).map(String::as_str)
    }

    pub fn bytes(&self) -> usize {
        self.0.values().map(String::len).sum()
    }
}

/// A rule's version: the hex SHA-256 of its source.
pub fn rule_version(source: &str) -> String {
    hex::encode(Sha256::digest(source.as_bytes()))
}

/// What changed from `old` to `new`, file by file, as unified diffs (3 lines of context);
/// unchanged files are left out.
pub fn diff(old: &PolicyFiles, new: &PolicyFiles) -> Vec<FileDiff> {
    let paths: std::collections::BTreeSet<&String> = old.0.keys().chain(new.0.keys()).collect();
    paths
        .into_iter()
        .filter_map(|path| {
            let (a, b) = (old.0.get(path).map(String::as_str), new.0.get(path).map(String::as_str));
            if a == b {
                return None;
            }
            let text = similar::TextDiff::from_lines(a.unwrap_or(""), b.unwrap_or(""));
            let unified = text.unified_diff().context_radius(3).header(path, path).to_string();
            let status = match (a, b) {
                (None, _) => "added",
                (_, None) => "removed",
                _ => "changed",
            };
            let lines = unified
                .lines()
                .map(|l| {
                    let kind = match l.as_bytes().first() {
                        _ if l.starts_with("+++") || l.starts_with("---") || l.starts_with("@@") => "header",
                        Some(b'+') => "add",
                        Some(b'-') => "remove",
                        _ => "context",
                    };
                    (kind, l.to_string())
                })
                .collect();
            Some(FileDiff { path: path.clone(), status, unified, lines })
        })
        .collect()
}

/// One file's change between two policies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileDiff {
    pub path: String,
    pub status: &'static str,
    pub unified: String,
    /// The unified diff's lines, each as `header`, `add`, `remove` or `context`.
    pub lines: Vec<(&'static str, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(files: &[(&str, &str)]) -> PolicyFiles {
        PolicyFiles(files.iter().map(|(p, t)| (p.to_string(), t.to_string())).collect())
    }

    #[test]
    fn the_hash_names_the_whole_content_and_nothing_else() {
        let a = policy(&[("a.rhai", "1"), ("data/x.txt", "y")]);
        assert_eq!(a.hash(), policy(&[("data/x.txt", "y"), ("a.rhai", "1")]).hash());
        assert_ne!(a.hash(), policy(&[("a.rhai", "1 "), ("data/x.txt", "y")]).hash());
        // Moving text across the boundary between path and content changes the hash.
        assert_ne!(policy(&[("ab", "c")]).hash(), policy(&[("a", "bc")]).hash());
    }

    #[test]
    fn rules_are_the_scripts_at_the_top_with_their_decision_versions() {
        let p = policy(&[("initial_limit.rhai", "#{}"), ("data/free_mail_domains.txt", "gmail.com")]);
        let rules: Vec<_> = p.rules().collect();
        assert_eq!(rules, vec![("initial_limit", rule_version("#{}"), "#{}")]);
        assert_eq!(p.data("free_mail_domains.txt"), Some("gmail.com"));
    }

    #[test]
    fn the_diff_names_changed_added_and_removed_files_only() {
        let old = policy(&[("a.rhai", "x\ny\n"), ("b.rhai", "same\n"), ("c.rhai", "gone\n")]);
        let new = policy(&[("a.rhai", "x\nz\n"), ("b.rhai", "same\n"), ("d.rhai", "new\n")]);
        let d = diff(&old, &new);
        let names: Vec<_> = d.iter().map(|f| (f.path.as_str(), f.status)).collect();
        assert_eq!(names, vec![("a.rhai", "changed"), ("c.rhai", "removed"), ("d.rhai", "added")]);
        assert!(d[0].unified.contains("-y\n+z\n"), "{}", d[0].unified);
        let kinds: Vec<_> = d[0].lines.iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, vec!["header", "header", "header", "context", "remove", "add"]);
    }
}
