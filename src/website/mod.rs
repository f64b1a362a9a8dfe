//! Website evidence (policy `../shared/seed/payment-methods.txt`, "Business Verification": the
//! website must represent "the applicant's own business or product", not "a temporary landing
//! page").
//!
//! The check runs as a background job after intake learns an application's website
//! (`services::website`): [`fetch`] gets the page over HTTPS under strict limits and an
//! address guard, and [`evaluate`] (pure, no I/O) reads what came back: the title, whether the
//! company or product name appears, signs of a parked or placeholder page. The result,
//! [`WebsiteEvidence`], is what the reviewer sees on the application and what the
//! `business_verification` rule reads as `input.website_evidence`.

pub mod fetch;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// What the website check found, as stored, shown and given to the rules. Numbers are `i64`
/// and absent texts empty, so scripts test them simply (`status == 0`, `title == ""`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct WebsiteEvidence {
    /// The address the application named.
    pub url: String,
    /// A response arrived (any status); false when the fetch was refused or failed.
    pub fetched: bool,
    /// The final response's HTTP status; 0 without one.
    pub status: i64,
    /// Where the redirects ended.
    pub final_url: String,
    /// Every redirect target followed, in order.
    pub redirects: Vec<String>,
    /// The page's `<title>`, whitespace collapsed.
    pub title: String,
    /// The company and product names looked for (legal forms removed), and the site's own
    /// name (its registrable domain's first label).
    pub names_checked: Vec<String>,
    /// Whether one of them appears in the title or the text of the page.
    pub name_found: bool,
    /// The name that was found ("" when none).
    pub name_matched: String,
    /// Why the page looks parked, for sale or a placeholder (empty when it does not).
    pub parked_signs: Vec<String>,
    /// The subject of the final connection's certificate (`CN=…`); empty over plain HTTP.
    pub certificate_subject: String,
    /// Bytes of the body read (at most `website_check.max_bytes`).
    pub bytes: i64,
    /// The body was longer than `website_check.max_bytes`; only its start was read.
    pub truncated: bool,
    /// Why nothing (usable) came back: `invalid_url`, `refused_scheme`, `refused_address`,
    /// `too_many_redirects`, `timeout`, `connect_failed`, `http_error`; "" when fine.
    pub error: String,
    /// The error in words, for the reviewer.
    pub error_detail: String,
}

/// What the fetch adapter hands to [`evaluate`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetched {
    pub status: Option<u16>,
    pub final_url: Option<String>,
    pub redirects: Vec<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    pub truncated: bool,
    pub certificate_subject: Option<String>,
    /// (code, detail) when the fetch did not complete.
    pub error: Option<(String, String)>,
}

/// What the application says about whose site this should be.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    pub company: Option<String>,
    pub product: Option<String>,
}

/// Reads a fetch into evidence (pure).
pub fn evaluate(url: &str, fetched: &Fetched, names: &Names) -> WebsiteEvidence {
    let mut e = WebsiteEvidence {
        url: url.to_string(),
        fetched: fetched.status.is_some(),
        status: fetched.status.map(i64::from).unwrap_or(0),
        final_url: fetched.final_url.clone().unwrap_or_default(),
        redirects: fetched.redirects.clone(),
        certificate_subject: fetched.certificate_subject.clone().unwrap_or_default(),
        bytes: i64::try_from(fetched.body.len()).unwrap_or(i64::MAX),
        truncated: fetched.truncated,
        ..Default::default()
    };
    if let Some((code, detail)) = &fetched.error {
        e.error = code.clone();
        e.error_detail = detail.clone();
    }
    let site = if e.final_url.is_empty() { url } else { e.final_url.as_str() };
    e.names_checked = candidate_names(names, site);
    if !e.fetched {
        return e;
    }
    if let Some(status) = fetched.status
        && !(200..300).contains(&status)
    {
        e.error = "http_error".into();
        e.error_detail = format!("the site answered HTTP {status}");
    }
    let html = String::from_utf8_lossy(&fetched.body);
    let is_text = fetched.content_type.as_deref().is_none_or(|t| {
        let t = t.to_ascii_lowercase();
        t.starts_with("text/") || t.contains("html") || t.contains("xml")
    });
    let (title, text) = if is_text { (title_of(&html), text_of(&html)) } else { (String::new(), String::new()) };
    e.title = title;
    let haystack = compact(&format!("{} {}", e.title, text));
    if let Some(found) = e.names_checked.iter().find(|n| haystack.contains(&compact(n))) {
        e.name_found = true;
        e.name_matched = found.clone();
    }
    e.parked_signs = parked_signs(&e.title, &text, site);
    e
}

/// The names a business's own site shows: the company name without its legal form, a short
/// product name, and the site's own name (the first label of its registrable domain, e.g.
/// "lumenforge" for www.lumenforge.io). Names shorter than three letters say nothing.
pub fn candidate_names(names: &Names, site: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |n: String| {
        let n = n.split_whitespace().collect::<Vec<_>>().join(" ");
        if compact(&n).chars().count() >= 3 && !out.iter().any(|o| compact(o) == compact(&n)) {
            out.push(n);
        }
    };
    if let Some(company) = names.company.as_deref() {
        add(without_legal_form(company));
    }
    // Applicants write "Storyweave, an Android app that …": the name is what comes before the
    // description. A few words are a name; a sentence describing the product is not.
    if let Some(product) = names.product.as_deref() {
        let head = product.split([',', ':', '(', ';', '\u{2013}', '\u{2014}']).next().unwrap_or_default();
        let head = head.split(" - ").next().unwrap_or_default().trim();
        if head.chars().count() <= 40 && head.split_whitespace().count() <= 4 {
            add(head.to_string());
        }
    }
    if let Ok(domain) = crate::domain::Domain::from_url(site) {
        let registrable = domain.registrable();
        if let Some(label) = registrable.as_str().split('.').next() {
            add(label.to_string());
        }
    }
    out
}

static LEGAL_FORM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)[\s,]+(?:inc\.?|incorporated|ltd\.?|limited|llc|gmbh|ag|sas|sarl|s\.a\.s?\.?|b\.v\.|pty\.?\s+ltd\.?|pte\.?\s+ltd\.?|co\.,?\s+ltd\.?|corp\.?|corporation|k\.k\.|oy|ab|aps|s\.r\.l\.|s\.p\.a\.|s\.l\.u?\.?|ltda\.?|s/a|ug|kg|n\.v\.)\s*$",
    )
    .expect("static regex")
});

fn without_legal_form(name: &str) -> String {
    let mut n = name.trim().to_string();
    // "Acme Holdings Co., Ltd." may carry two forms.
    for _ in 0..2 {
        n = LEGAL_FORM.replace(&n, "").into_owned();
    }
    n.trim().to_string()
}

/// Lower-case letters and digits only: "LumenForge", "Lumen Forge" and "lumen-forge" match.
fn compact(s: &str) -> String {
    s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

static TITLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?is)<title\b[^>]*>(.*?)</title\s*>").expect("static regex"));

/// The page's `<title>`, entities decoded, whitespace collapsed, at most 300 characters.
pub fn title_of(html: &str) -> String {
    let Some(m) = TITLE.captures(html).and_then(|c| c.get(1)) else { return String::new() };
    let decoded = nanohtml2text::html2text(m.as_str());
    decoded.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(300).collect()
}

/// The readable text of the page, lower-cased.
fn text_of(html: &str) -> String {
    nanohtml2text::html2text(html).to_lowercase()
}

/// Phrases of parked, for-sale, placeholder and default server pages (lower case).
const PLACEHOLDER_PHRASES: &[&str] = &[
    "domain is for sale",
    "domain may be for sale",
    "buy this domain",
    "this domain is available",
    "domain for sale",
    "make an offer on this domain",
    "this domain is parked",
    "parked free",
    "parked domain",
    "domain parking",
    "future home of",
    "coming soon",
    "under construction",
    "launching soon",
    "website is being built",
    "site is under maintenance",
    "welcome to nginx",
    "apache2 ubuntu default page",
    "apache2 debian default page",
    "test page for the apache http server",
    "it works!",
    "iis windows server",
    "default web site page",
    "congratulations! your website is up",
    "this is a default index page",
    "index of /",
    "there isn't a github pages site here",
    "site not found",
    "no such app",
    "lorem ipsum",
    "hello world!",
];

/// Hosts that show parked or for-sale domains (a parked domain often redirects to them).
const PARKING_HOSTS: &[&str] = &[
    "sedo.com",
    "sedoparking.com",
    "dan.com",
    "afternic.com",
    "hugedomains.com",
    "bodis.com",
    "parkingcrew.net",
    "above.com",
    "undeveloped.com",
    "uniregistry.com",
    "parklogic.com",
    "domainmarket.com",
    "squadhelp.com",
    "atom.com",
    "buydomains.com",
    "namebright.com",
    "brandbucket.com",
];

/// Why a page looks parked, for sale or a placeholder (pure).
pub fn parked_signs(title: &str, text: &str, site: &str) -> Vec<String> {
    let mut signs = Vec::new();
    let title_lower = title.to_lowercase();
    for phrase in PLACEHOLDER_PHRASES {
        if title_lower.contains(phrase) || text.contains(phrase) {
            signs.push(format!("page says \"{phrase}\""));
        }
    }
    if let Ok(domain) = crate::domain::Domain::from_url(site) {
        let registrable = domain.registrable();
        if PARKING_HOSTS.contains(&registrable.as_str()) {
            signs.push(format!("ends on a domain-parking host ({})", registrable.as_str()));
        }
    }
    if title.trim().is_empty() && text.trim().is_empty() {
        signs.push("empty page".into());
    }
    signs
}

/// Whether an address is one the check may connect to: globally routable unicast only. No
/// loopback, private (RFC 1918, unique local), link-local (cloud metadata lives there),
/// shared (CGNAT), documentation, benchmarking, multicast, broadcast or reserved ranges; an
/// IPv4 address inside IPv6 (mapped, NAT64) is judged as the IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last 32 bits.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || s[0..6] == [0, 0, 0, 0, 0, 0])
}

/// Loopback, also inside IPv6 (what the test-only relaxation lets through).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(html: &str) -> Fetched {
        Fetched {
            status: Some(200),
            final_url: Some("https://www.lumenforge.io/".into()),
            content_type: Some("text/html; charset=utf-8".into()),
            body: html.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    fn lumenforge() -> Names {
        Names { company: Some("LumenForge Ltd".into()), product: Some("Forge Studio".into()) }
    }

    #[test]
    fn a_business_site_names_its_company_and_has_a_title() {
        let html = "<html><head><title>\n  LumenForge &amp; Co \u{2014} AI video\n</title></head>\
                    <body><h1>Forge Studio</h1><p>Render video with AI.</p></body></html>";
        let e = evaluate("https://www.lumenforge.io", &page(html), &lumenforge());
        assert!(e.fetched);
        assert_eq!(e.status, 200);
        assert_eq!(e.title, "LumenForge & Co \u{2014} AI video");
        assert!(e.name_found);
        assert_eq!(e.name_matched, "LumenForge");
        assert_eq!(e.names_checked, vec!["LumenForge", "Forge Studio"], "the domain label is the company name");
        assert!(e.parked_signs.is_empty(), "{:?}", e.parked_signs);
        assert_eq!(e.error, "");
    }

    #[test]
    fn a_site_that_names_nobody_is_reported_as_such() {
        let html = "<title>Home</title><p>We build things for people.</p>";
        let names = Names { company: Some("Acme Robotics Inc.".into()), product: None };
        let e = evaluate("https://www.example-shop.com", &page(html), &names);
        assert!(!e.name_found);
        assert_eq!(e.names_checked, vec!["Acme Robotics", "lumenforge"]);
    }

    #[test]
    fn names_match_across_case_spaces_and_hyphens() {
        let html = "<p>Welcome to lumen-forge, the studio.</p>";
        let names = Names { company: Some("Lumen Forge GmbH".into()), product: None };
        let e = evaluate("https://example.org", &page(html), &names);
        assert!(e.name_found);
        assert_eq!(e.name_matched, "Lumen Forge");
    }

    #[test]
    fn a_product_name_is_read_before_its_description() {
        let names = Names { company: None, product: Some("an app that helps teams write better docs".into()) };
        assert_eq!(candidate_names(&names, "https://docs.example.com"), vec!["example"]);
        let names =
            Names { company: None, product: Some("Storyweave, an Android app that illustrates stories".into()) };
        assert_eq!(candidate_names(&names, "https://storyweave.app"), vec!["Storyweave"]);
        let names = Names { company: None, product: Some("RenderDesk - 3D visualisation".into()) };
        assert_eq!(candidate_names(&names, "not a url"), vec!["RenderDesk"]);
    }

    #[test]
    fn parked_and_placeholder_pages_are_recognised() {
        let cases = [
            (
                "<title>lumenforge.io is for sale</title><p>This domain is for sale! Make an offer.</p>",
                "domain is for sale",
            ),
            ("<title>Coming Soon</title>", "coming soon"),
            ("<title>Welcome to nginx!</title><h1>Welcome to nginx!</h1>", "welcome to nginx"),
            ("<title>Apache2 Ubuntu Default Page: It works</title>", "apache2 ubuntu default page"),
            ("<p>Lorem ipsum dolor sit amet</p>", "lorem ipsum"),
        ];
        for (html, phrase) in cases {
            let e = evaluate("https://www.lumenforge.io", &page(html), &lumenforge());
            assert!(e.parked_signs.iter().any(|s| s.contains(phrase)), "{html}: {:?}", e.parked_signs);
        }
        let mut parked = page("<title>Buy now</title>");
        parked.final_url = Some("https://www.sedo.com/search/details/?domain=lumenforge.io".into());
        let e = evaluate("https://www.lumenforge.io", &parked, &lumenforge());
        assert!(e.parked_signs.iter().any(|s| s.contains("sedo.com")), "{:?}", e.parked_signs);
        let e = evaluate("https://www.lumenforge.io", &page(""), &lumenforge());
        assert_eq!(e.parked_signs, vec!["empty page"]);
    }

    #[test]
    fn an_error_status_and_a_failed_fetch_are_errors() {
        let mut f = page("<title>Not Found</title>");
        f.status = Some(404);
        let e = evaluate("https://www.lumenforge.io", &f, &lumenforge());
        assert!(e.fetched);
        assert_eq!(e.error, "http_error");
        let failed = Fetched { error: Some(("timeout".into(), "no answer within 10 s".into())), ..Default::default() };
        let e = evaluate("https://www.lumenforge.io", &failed, &lumenforge());
        assert!(!e.fetched);
        assert_eq!((e.status, e.error.as_str()), (0, "timeout"));
        assert!(e.parked_signs.is_empty() && !e.name_found);
    }

    #[test]
    fn a_binary_body_has_no_title_or_text() {
        let mut f = page("<title>LumenForge</title>");
        f.content_type = Some("application/octet-stream".into());
        let e = evaluate("https://www.lumenforge.io", &f, &lumenforge());
        assert_eq!(e.title, "");
        assert!(!e.name_found);
    }

    #[test]
    fn only_globally_routable_addresses_are_public() {
        for ok in ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"] {
            assert!(is_public(ok.parse().unwrap()), "{ok}");
        }
        for bad in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "192.0.2.1",
            "240.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
            "ff02::1",
        ] {
            assert!(!is_public(bad.parse().unwrap()), "{bad}");
        }
        assert!(is_loopback("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!is_loopback("10.0.0.1".parse().unwrap()));
    }
}
