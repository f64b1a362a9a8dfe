//! `Authentication-Results` (RFC 8601): what the receiving mail server found when it checked
//! a message's DMARC, DKIM and SPF, and whether that vouches for a sender's domain. Pure.
//!
//! Anyone can write this header into a message, so only the one added by our own receiving
//! server counts: the topmost header carrying the operator's `authserv-id` (the server adds
//! its header above everything the sender wrote; RFC 8601 section 5). No maintained Rust crate
//! parses the header (mail-auth writes it, and brings a DNS resolver with it), so the small
//! grammar is read here.

use crate::domain::Domain;

/// Longest header value read; a real one is a few hundred bytes.
const MAX_VALUE_BYTES: usize = 8 * 1024;
/// Most results read from one header.
const MAX_RESULTS: usize = 32;

/// One `method=result` of a header, with its reason and properties (`header.from`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodResult {
    /// Lower case, without a version (`dkim`, `spf`, `dmarc`).
    pub method: String,
    /// Lower case (`pass`, `fail`, `none`, ...).
    pub result: String,
    pub reason: Option<String>,
    /// `(ptype.property, value)`, e.g. `("header.d", "example.com")`.
    pub properties: Vec<(String, String)>,
}

impl MethodResult {
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResults {
    pub authserv_id: String,
    pub results: Vec<MethodResult>,
}

/// Parses one header value. `None` when it has no authserv-id.
pub fn parse(value: &str) -> Option<AuthResults> {
    let value = &value[..floor_char_boundary(value, MAX_VALUE_BYTES)];
    let text = without_comments(value);
    let mut parts = split_outside_quotes(&text, ';').into_iter();
    let authserv_id = parts.next()?.split_whitespace().next()?.to_ascii_lowercase();
    let mut results = Vec::new();
    for part in parts.take(MAX_RESULTS) {
        if let Some(r) = method_result(&part) {
            results.push(r);
        }
    }
    Some(AuthResults { authserv_id, results })
}

fn floor_char_boundary(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    (0..=max).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0)
}

/// One `resinfo`: `method[/version]=result [reason=value] [ptype.property=value ...]`.
fn method_result(part: &str) -> Option<MethodResult> {
    // CFWS may surround `=`: join each `name = value` into one word first.
    let mut words: Vec<String> = Vec::new();
    let tokens = split_whitespace_outside_quotes(part);
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        if t == "=" && !words.is_empty() && i + 1 < tokens.len() {
            let last = words.pop().unwrap_or_default();
            words.push(format!("{last}={}", tokens[i + 1]));
            i += 2;
        } else if t.ends_with('=') && t.len() > 1 && i + 1 < tokens.len() {
            words.push(format!("{t}{}", tokens[i + 1]));
            i += 2;
        } else if t.starts_with('=') && t.len() > 1 && !words.is_empty() {
            let last = words.pop().unwrap_or_default();
            words.push(format!("{last}{t}"));
            i += 1;
        } else {
            words.push(t.clone());
            i += 1;
        }
    }
    let mut words = words.into_iter();
    let (method, result) = words.next()?.split_once('=').map(|(m, r)| (m.to_string(), r.to_string()))?;
    let method = method.split('/').next().unwrap_or_default().trim().to_ascii_lowercase();
    let result = unquote(&result).to_ascii_lowercase();
    if method.is_empty() || result.is_empty() {
        return None;
    }
    let mut reason = None;
    let mut properties = Vec::new();
    for w in words {
        let Some((k, v)) = w.split_once('=') else { continue };
        if k.eq_ignore_ascii_case("reason") {
            reason = Some(unquote(v));
        } else if k.contains('.') {
            properties.push((k.to_ascii_lowercase(), unquote(v)));
        }
    }
    Some(MethodResult { method, result, reason, properties })
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    v.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(v).replace("\\\"", "\"")
}

/// The value with `( ... )` comments (nested, outside quoted strings) removed.
fn without_comments(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let (mut depth, mut quoted, mut escaped) = (0usize, false, false);
    for c in value.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                if depth == 0 {
                    out.push(c);
                }
            }
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => {
                depth -= 1;
                out.push(' ');
            }
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn split_outside_quotes(text: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quoted = false;
    for c in text.chars() {
        if c == '"' {
            quoted = !quoted;
        }
        if c == sep && !quoted {
            parts.push(String::new());
        } else if let Some(last) = parts.last_mut() {
            last.push(c);
        }
    }
    parts
}

fn split_whitespace_outside_quotes(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.chars() {
        if c == '"' {
            quoted = !quoted;
        }
        if c.is_whitespace() && !quoted {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
        } else {
            current.push(c);
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// The header our receiving server added: the topmost one with `authserv_id`. Headers come
/// in message order (top first).
pub fn trusted<'a>(headers: impl IntoIterator<Item = &'a str>, authserv_id: &str) -> Option<AuthResults> {
    headers.into_iter().filter_map(parse).find(|a| a.authserv_id.eq_ignore_ascii_case(authserv_id.trim()))
}

/// What the receiving server's checks say about mail from `domain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// DMARC passed for the domain, or DKIM or SPF passed aligned with it.
    Pass(String),
    /// Nothing vouches for the domain (or DMARC failed for it); says what was found.
    Fail(String),
}

/// Whether `results` vouch for mail from `domain` (compared by registrable domain, as DMARC's
/// relaxed alignment does).
pub fn verdict(results: &AuthResults, domain: &Domain) -> Verdict {
    let org = domain.registrable();
    let aligned = |value: Option<&str>| {
        value
            .map(|v| v.rsplit('@').next().unwrap_or(v).trim().trim_end_matches('.'))
            .and_then(|d| Domain::parse(d).ok())
            .is_some_and(|d| d.registrable() == org)
    };
    let summary = results
        .results
        .iter()
        .map(|r| {
            let about = ["header.from", "header.d", "header.i", "smtp.mailfrom"]
                .iter()
                .find_map(|p| r.property(p).map(|v| format!(" {p}={v}")))
                .unwrap_or_default();
            format!("{}={}{}", r.method, r.result, about)
        })
        .collect::<Vec<_>>()
        .join("; ");
    let summary = format!("{}: {}", results.authserv_id, if summary.is_empty() { "no results" } else { &summary });
    let dmarc_failed = results.results.iter().any(|r| {
        r.method == "dmarc"
            && r.result != "pass"
            && (r.property("header.from").is_none() || aligned(r.property("header.from")))
    });
    if dmarc_failed {
        return Verdict::Fail(summary);
    }
    let passed = results.results.iter().any(|r| {
        r.result == "pass"
            && match r.method.as_str() {
                "dmarc" => aligned(r.property("header.from")),
                "dkim" => aligned(r.property("header.d")) || aligned(r.property("header.i")),
                "spf" => aligned(r.property("smtp.mailfrom")) || aligned(r.property("smtp.helo")),
                _ => false,
            }
    });
    if passed { Verdict::Pass(summary) } else { Verdict::Fail(summary) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(d: &str) -> Domain {
        Domain::parse(d).unwrap()
    }

    #[test]
    fn reads_methods_reasons_and_properties_across_comments_and_spacing() {
        let a = parse(
            "mx.example.net 1; dkim=pass (good signature) header.d=acme.com header.s=sel1;\r\n\t spf = pass smtp.mailfrom=bounce@mail.acme.com;\r\n dmarc=pass (p=reject) header.from=acme.com; arc=none reason=\"no; chain\"",
        )
        .unwrap();
        assert_eq!(a.authserv_id, "mx.example.net");
        let methods: Vec<(&str, &str)> = a.results.iter().map(|r| (r.method.as_str(), r.result.as_str())).collect();
        assert_eq!(methods, [("dkim", "pass"), ("spf", "pass"), ("dmarc", "pass"), ("arc", "none")]);
        assert_eq!(a.results[1].property("smtp.mailfrom"), Some("bounce@mail.acme.com"));
        assert_eq!(a.results[3].reason.as_deref(), Some("no; chain"));
        assert_eq!(verdict(&a, &domain("acme.com")), Verdict::Pass(
            "mx.example.net: dkim=pass header.d=acme.com; spf=pass smtp.mailfrom=bounce@mail.acme.com; dmarc=pass header.from=acme.com; arc=none".into()
        ));
    }

    #[test]
    fn only_the_topmost_header_of_our_server_is_trusted() {
        let ours = "mx.ours.example; dmarc=fail header.from=acme.com";
        let forged = "mx.ours.example; dmarc=pass header.from=acme.com";
        let other = "evil.example; dmarc=pass header.from=acme.com";
        let a = trusted([other, ours, forged], "MX.ours.example").unwrap();
        assert!(matches!(verdict(&a, &domain("acme.com")), Verdict::Fail(_)));
        assert!(trusted([other], "mx.ours.example").is_none());
    }

    #[test]
    fn dmarc_failure_or_unaligned_passes_do_not_vouch() {
        let a = parse("mx; dmarc=fail header.from=acme.com; spf=pass smtp.mailfrom=acme.com").unwrap();
        assert!(matches!(verdict(&a, &domain("acme.com")), Verdict::Fail(_)));
        let a = parse("mx; dkim=pass header.d=attacker.example; spf=pass smtp.mailfrom=x@attacker.example").unwrap();
        assert!(matches!(verdict(&a, &domain("acme.com")), Verdict::Fail(_)));
        let a = parse("mx; dkim=pass header.d=mail.acme.com").unwrap();
        assert!(matches!(verdict(&a, &domain("acme.com")), Verdict::Pass(_)));
        let a = parse("mx; none").unwrap();
        assert!(matches!(verdict(&a, &domain("acme.com")), Verdict::Fail(_)));
    }

    #[test]
    fn garbage_never_panics() {
        for v in ["", ";;;", "(((", "mx; =pass", "mx; dkim=", "\"unterminated; dkim=pass", "mx; dkim = ", "é; ü=ö"] {
            let _ = parse(v).map(|a| verdict(&a, &domain("acme.com")));
        }
    }
}
