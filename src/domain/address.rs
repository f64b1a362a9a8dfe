//! Email addresses and domains, parsed once and lower-cased, with the registrable domain
//! ("lumenforge.io" for "mail.lumenforge.io") from the public suffix list.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("not an email address: {0:?}")]
    Email(String),
    #[error("not a domain name: {0:?}")]
    Domain(String),
}

/// A DNS name, lower-cased, without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Domain(String);

impl Domain {
    pub fn parse(input: &str) -> Result<Domain, AddressError> {
        let err = || AddressError::Domain(input.to_string());
        let s = input.trim().trim_end_matches('.').to_lowercase();
        if s.is_empty() || s.len() > 253 || !s.contains('.') {
            return Err(err());
        }
        for label in s.split('.') {
            let ok = !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-');
            if !ok {
                return Err(err());
            }
        }
        Ok(Domain(s))
    }

    /// The host of a URL or bare host ("https://app.example.com:8443/x" -> "app.example.com").
    pub fn from_url(url: &str) -> Result<Domain, AddressError> {
        let s = url.trim();
        let rest = match s.find("://") {
            Some(i) => &s[i + 3..],
            None => s,
        };
        let host_port = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host_port = host_port.rsplit('@').next().unwrap_or(host_port);
        let host = match host_port.rsplit_once(':') {
            Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
            _ => host_port,
        };
        Domain::parse(host).map_err(|_| AddressError::Domain(url.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part a company registers ("example.co.uk" for "www.example.co.uk"). Falls back
    /// to the whole name when the suffix list knows no registrable part (e.g. "localhost.x").
    pub fn registrable(&self) -> Domain {
        match psl::domain_str(&self.0) {
            Some(d) => Domain(d.to_string()),
            None => self.clone(),
        }
    }

    /// True when `self` is `other` or a subdomain of it.
    pub fn is_within(&self, other: &Domain) -> bool {
        // No allocation: host lists call this for every entry on every rule evaluation.
        self.0 == other.0 || self.0.strip_suffix(other.0.as_str()).is_some_and(|rest| rest.ends_with('.'))
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Domain {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Domain::parse(s)
    }
}

/// An email address: `local@domain`, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EmailAddress {
    address: String,
    at: usize,
}

impl EmailAddress {
    pub fn parse(input: &str) -> Result<EmailAddress, AddressError> {
        let err = || AddressError::Email(input.to_string());
        let s = input.trim().trim_start_matches("mailto:").trim_matches(|c| c == '<' || c == '>');
        if s.len() > 254 {
            return Err(err());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(err)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.chars().all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        if !local_ok {
            return Err(err());
        }
        let domain = Domain::parse(domain).map_err(|_| err())?;
        let address = format!("{}@{}", local.to_lowercase(), domain.as_str());
        let at = address.rfind('@').ok_or_else(err)?;
        Ok(EmailAddress { address, at })
    }

    pub fn as_str(&self) -> &str {
        &self.address
    }

    pub fn local_part(&self) -> &str {
        &self.address[..self.at]
    }

    pub fn domain(&self) -> Domain {
        Domain(self.address[self.at + 1..].to_string())
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.address)
    }
}

impl FromStr for EmailAddress {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EmailAddress::parse(s)
    }
}

macro_rules! string_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
string_serde!(Domain);
string_serde!(EmailAddress);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lowercased_and_split() {
        let e = EmailAddress::parse(" Maya.Chen@Mail.LumenForge.IO ").unwrap();
        assert_eq!(e.as_str(), "maya.chen@mail.lumenforge.io");
        assert_eq!(e.local_part(), "maya.chen");
        assert_eq!(e.domain().as_str(), "mail.lumenforge.io");
        assert_eq!(e.domain().registrable().as_str(), "lumenforge.io");
        assert_eq!(EmailAddress::parse("<a@b.co>").unwrap().as_str(), "a@b.co");
    }

    #[test]
    fn bad_emails_are_refused() {
        for bad in ["", "a", "a@", "@b.com", "a@b", "a..b@c.com", "a b@c.com", "a@-b.com", ".a@b.com"] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn registrable_domain_follows_the_suffix_list() {
        let d = |s: &str| Domain::parse(s).unwrap().registrable().to_string();
        assert_eq!(d("www.example.co.uk"), "example.co.uk");
        assert_eq!(d("my-app.vercel.app"), "my-app.vercel.app");
        assert_eq!(d("foo.github.io"), "foo.github.io");
        assert_eq!(d("shop.example.com"), "example.com");
    }

    #[test]
    fn hosts_come_out_of_urls() {
        let h = |s: &str| Domain::from_url(s).unwrap().to_string();
        assert_eq!(h("https://www.Lumenforge.io/about?x=1"), "www.lumenforge.io");
        assert_eq!(h("http://user@app.example.com:8443/"), "app.example.com");
        assert_eq!(h("example.org"), "example.org");
        assert!(Domain::from_url("https://").is_err());
        assert!(Domain::parse("sub.example.com").unwrap().is_within(&Domain::parse("example.com").unwrap()));
        assert!(!Domain::parse("badexample.com").unwrap().is_within(&Domain::parse("example.com").unwrap()));
    }
}
