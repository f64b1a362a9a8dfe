//! Host lists kept as data next to the rules (`rules/data/*.txt`), so support can add a new
//! free-mail provider or deployment platform without a build.

use std::collections::BTreeSet;

use crate::domain::{Domain, Money};

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
    /// The monthly limit from which a line needs a deposit guarantee first (policy: "For
    /// special requests such as $5,000/month or more ... deposit or top up the corresponding
    /// amount as a guarantee"). Written once, in `deposit_tier.txt`: the rules read it with
    /// `deposit_tier_cents()`, the code and the emails through them.
    pub deposit_tier: Money,
}

/// The one amount of `deposit_tier.txt` (`#` starts a comment), above $0.00.
pub fn parse_deposit_tier(text: &str) -> Result<Money, String> {
    let mut amounts = text.lines().map(|l| l.split('#').next().unwrap_or("").trim()).filter(|l| !l.is_empty());
    let (Some(amount), None) = (amounts.next(), amounts.next()) else {
        return Err("one amount expected (e.g. $5,000)".into());
    };
    match Money::parse(amount) {
        Ok(m) if m.cents() > 0 => Ok(m),
        _ => Err(format!("{amount:?} is not an amount above $0.00")),
    }
}

impl HostLists {
    pub const FILES: [&'static str; 3] =
        ["free_mail_domains.txt", "generic_platform_hosts.txt", "tool_directory_hosts.txt"];
    pub const DEPOSIT_TIER_FILE: &'static str = "deposit_tier.txt";

    /// The lists from each file's (text, name for errors), by file name.
    pub fn from_texts(text: impl Fn(&str) -> Result<(String, String), String>) -> Result<HostLists, String> {
        let read = |name: &str| {
            let (t, path) = text(name)?;
            HostList::parse(&t).map_err(|e| format!("{path}: {e}"))
        };
        let (tier, path) = text(Self::DEPOSIT_TIER_FILE)?;
        Ok(HostLists {
            free_mail: read(Self::FILES[0])?,
            generic_platforms: read(Self::FILES[1])?,
            tool_directories: read(Self::FILES[2])?,
            deposit_tier: parse_deposit_tier(&tier).map_err(|e| format!("{path}: {e}"))?,
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

    #[test]
    fn the_deposit_tier_is_one_amount_above_zero() {
        assert_eq!(parse_deposit_tier("# tier\n$5,000 # a month\n").unwrap().cents(), 500_000);
        assert!(parse_deposit_tier("$5,000\n$10,000\n").is_err());
        assert!(parse_deposit_tier("# nothing\n").is_err());
        assert!(parse_deposit_tier("$0").is_err());
        assert!(parse_deposit_tier("five thousand").is_err());
    }
}
