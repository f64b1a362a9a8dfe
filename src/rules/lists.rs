//! Host lists kept as data next to the rules (`rules/data/*.txt`), so support can add a new
//! free-mail provider or deployment platform without a build.

use std::collections::BTreeSet;
use std::path::Path;

use crate::domain::Domain;

#[derive(Debug, Clone, Default)]
pub struct HostList(BTreeSet<Domain>);

impl HostList {
    /// One host per line; `#` starts a comment; blank lines are ignored. An entry that is
    /// not a host name is an error naming its line.
    pub fn parse(text: &str) -> Result<HostList, String> {
        let mut hosts = BTreeSet::new();
        for (i, line) in text.lines().enumerate() {
            let entry = line.split('#').next().unwrap_or("").trim().trim_start_matches("*.");
            if entry.is_empty() {
                continue;
            }
            hosts.insert(Domain::parse(entry).map_err(|e| format!("line {}: {e}", i + 1))?);
        }
        Ok(HostList(hosts))
    }

    /// True when the host is an entry or a subdomain of one.
    pub fn matches(&self, host: &Domain) -> bool {
        self.0.iter().any(|e| host.is_within(e))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[derive(Debug, Clone, Default)]
pub struct HostLists {
    pub free_mail: HostList,
    pub generic_platforms: HostList,
    pub tool_directories: HostList,
}

impl HostLists {
    pub const FILES: [&'static str; 3] =
        ["free_mail_domains.txt", "generic_platform_hosts.txt", "tool_directory_hosts.txt"];

    pub fn load(data_dir: &Path) -> Result<HostLists, String> {
        let read = |name: &str| {
            let path = data_dir.join(name);
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            HostList::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
        };
        Ok(HostLists {
            free_mail: read(Self::FILES[0])?,
            generic_platforms: read(Self::FILES[1])?,
            tool_directories: read(Self::FILES[2])?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_entries_and_their_subdomains_only() {
        let l = HostList::parse("# platforms\nvercel.app\n*.netlify.app  # wildcard form\n\n").unwrap();
        let d = |s: &str| Domain::parse(s).unwrap();
        assert!(l.matches(&d("vercel.app")));
        assert!(l.matches(&d("my-app.vercel.app")));
        assert!(l.matches(&d("x.netlify.app")));
        assert!(!l.matches(&d("notvercel.app")));
        assert!(!l.matches(&d("vercel.app.example.com")));
        assert_eq!(l.len(), 2);
    }
}
