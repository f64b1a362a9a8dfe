//! Host lists kept as data next to the rules (`rules/data/*.txt`), so support can add a new
//! free-mail provider or deployment platform without a build.

use std::collections::{BTreeMap, BTreeSet};

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

/// The kinds of project material `project_material_hosts.txt` may name.
pub const MATERIAL_KINDS: [&str; 5] = ["repository", "demo_video", "paper", "marketplace", "social"];

/// What a link's host says of it as project material (`project_material_hosts.txt`): one
/// host per kind line, a subdomain counting as its host, the most specific host deciding.
/// Kept as data and matched here rather than in the script: the rule asked this of every link
/// by walking some fifty hosts in Rhai, half of a whole application's evaluation time.
#[derive(Debug, Clone, Default)]
pub struct MaterialHosts(BTreeMap<String, &'static str>);

impl MaterialHosts {
    /// Lines of `kind host`; `#` starts a comment; blank lines are ignored. An unknown kind, a
    /// bad host or a host listed twice is an error naming its line.
    pub fn parse(text: &str) -> Result<MaterialHosts, String> {
        let mut hosts = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let at = |e: String| format!("line {}: {e}", i + 1);
            let mut words = line.split('#').next().unwrap_or("").split_whitespace();
            let (kind, host) = match (words.next(), words.next(), words.next()) {
                (None, ..) => continue,
                (Some(k), Some(h), None) => (k, h),
                _ => return Err(at("expected a kind and a host, e.g. `repository github.com`".into())),
            };
            let kind = MATERIAL_KINDS
                .into_iter()
                .find(|k| *k == kind)
                .ok_or_else(|| at(format!("unknown kind {kind:?} (one of {})", MATERIAL_KINDS.join(", "))))?;
            let host = Domain::parse(host.trim_start_matches("*.")).map_err(|e| at(e.to_string()))?;
            if let Some(before) = hosts.insert(host.to_string(), kind) {
                return Err(at(format!("{host} is listed twice ({before} and {kind})")));
            }
        }
        Ok(MaterialHosts(hosts))
    }

    /// The kind of the host or of the nearest parent listed; `None` when none is.
    pub fn kind_of(&self, host: &Domain) -> Option<&'static str> {
        let host = host.as_str();
        // The host itself, then each parent: `a.b.c`, `b.c`, `c`. No allocation.
        std::iter::once(host)
            .chain(host.match_indices('.').map(|(i, _)| &host[i + 1..]))
            .find_map(|suffix| self.0.get(suffix).copied())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The list shipped in `rules/data/`, for pure code with no rule set at hand (the intake
    /// extractor's own default). The service passes the list of the policy in force instead.
    pub fn shipped() -> &'static MaterialHosts {
        static SHIPPED: std::sync::LazyLock<MaterialHosts> = std::sync::LazyLock::new(|| {
            // Checked by this module's tests: the shipped file parses.
            MaterialHosts::parse(include_str!("../../rules/data/project_material_hosts.txt")).unwrap_or_default()
        });
        &SHIPPED
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
    /// Project material by host (`project_material_hosts.txt`). Optional: policy versions
    /// written before it existed judge links in their scripts and load with it empty.
    pub material: MaterialHosts,
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
    pub const MATERIAL_FILE: &'static str = "project_material_hosts.txt";
    /// Every data file a policy folder has, the optional ones included.
    pub const ALL_FILES: [&'static str; 5] =
        [Self::FILES[0], Self::FILES[1], Self::FILES[2], Self::DEPOSIT_TIER_FILE, Self::MATERIAL_FILE];

    /// The lists from each file's (text, name for errors), by file name; `Ok(None)` is a
    /// file the policy does not have, which only [`Self::MATERIAL_FILE`] may be.
    pub fn from_texts(text: impl Fn(&str) -> Result<Option<(String, String)>, String>) -> Result<HostLists, String> {
        let required = |name: &str| text(name)?.ok_or_else(|| format!("data/{name}: missing"));
        let read = |name: &str| {
            let (t, path) = required(name)?;
            HostList::parse(&t).map_err(|e| format!("{path}: {e}"))
        };
        let (tier, path) = required(Self::DEPOSIT_TIER_FILE)?;
        let material = match text(Self::MATERIAL_FILE)? {
            Some((t, path)) => MaterialHosts::parse(&t).map_err(|e| format!("{path}: {e}"))?,
            None => MaterialHosts::default(),
        };
        Ok(HostLists {
            free_mail: read(Self::FILES[0])?,
            generic_platforms: read(Self::FILES[1])?,
            tool_directories: read(Self::FILES[2])?,
            deposit_tier: parse_deposit_tier(&tier).map_err(|e| format!("{path}: {e}"))?,
            material,
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
    fn material_hosts_name_a_kind_per_host_and_the_most_specific_host_decides() {
        let m = MaterialHosts::parse(
            "# kinds\nrepository github.com\nmarketplace  play.google.com # store\nsocial google.com\n\n",
        )
        .unwrap();
        let kind = |s: &str| m.kind_of(&Domain::parse(s).unwrap());
        assert_eq!(kind("github.com"), Some("repository"));
        assert_eq!(kind("gist.github.com"), Some("repository"));
        assert_eq!(kind("play.google.com"), Some("marketplace"));
        assert_eq!(kind("mail.google.com"), Some("social"));
        assert_eq!(kind("notgithub.com"), None);
        assert_eq!(kind("github.com.example.org"), None);
        assert_eq!(m.len(), 3);
        for (bad, why) in [
            ("repo github.com", "unknown kind"),
            ("repository", "a kind and a host"),
            ("repository github.com extra", "a kind and a host"),
            ("paper not_a_host", "line 1"),
            ("paper arxiv.org\nrepository arxiv.org", "line 2: arxiv.org is listed twice"),
        ] {
            let e = MaterialHosts::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }

    #[test]
    fn the_shipped_material_list_parses() {
        let text = include_str!("../../rules/data/project_material_hosts.txt");
        let parsed = MaterialHosts::parse(text).expect("the shipped list parses");
        assert_eq!(MaterialHosts::shipped().len(), parsed.len());
        assert_eq!(MaterialHosts::shipped().kind_of(&Domain::parse("github.com").unwrap()), Some("repository"));
    }

    #[test]
    fn only_the_material_list_may_be_missing() {
        let files = |skip: &'static str| {
            move |name: &str| {
                let text = if name == HostLists::DEPOSIT_TIER_FILE { "$5,000" } else { "github.com" };
                let text = if name == HostLists::MATERIAL_FILE { "repository github.com" } else { text };
                Ok((name != skip).then(|| (text.to_string(), name.to_string())))
            }
        };
        assert_eq!(HostLists::from_texts(files("")).unwrap().material.len(), 1);
        assert!(HostLists::from_texts(files(HostLists::MATERIAL_FILE)).unwrap().material.is_empty());
        let e = HostLists::from_texts(files(HostLists::FILES[1])).unwrap_err();
        assert_eq!(e, "data/generic_platform_hosts.txt: missing");
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
