//! Fetching an applicant's website: the one place the service connects to an address that
//! someone outside chose. So every connection is guarded:
//!
//! - only `https://` (plain `http://` only with `website_check.test_only_allow_http`);
//! - only public addresses ([`super::is_public`]): a name is resolved by our resolver, which
//!   drops every non-public address it resolves to and refuses a name left with none, so the
//!   check holds for the address actually connected to (no DNS rebinding between a check and
//!   the connection) and for every redirect hop; an IP-literal host, which is not resolved,
//!   is checked by the same rule up front and on each redirect;
//! - no proxy from the environment (it would connect in our place, past the guard);
//! - a total time limit, a connect time limit, at most `max_redirects` redirects, at most
//!   `max_bytes` of body read (the rest is never downloaded).
//!
//! It never fails: whatever went wrong is returned in [`Fetched::error`] as evidence.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect::{Attempt, Policy};
use reqwest::{Client, Url};

use super::Fetched;
use crate::config::WebsiteCheckConfig;

/// Why a connection was refused by the guard (found in the error's source chain).
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refused {
    #[error("{0} is not an https address")]
    Scheme(String),
    #[error("{host} resolves only to addresses that are not public ({addresses})")]
    Address { host: String, addresses: String },
    #[error("more than {0} redirects")]
    TooManyRedirects(u32),
}

impl Refused {
    fn code(&self) -> &'static str {
        match self {
            Refused::Scheme(_) => "refused_scheme",
            Refused::Address { .. } => "refused_address",
            Refused::TooManyRedirects(_) => "too_many_redirects",
        }
    }
}

/// Which addresses and schemes a fetch may use.
#[derive(Debug, Clone, Copy)]
pub struct Guard {
    allow_loopback: bool,
    allow_http: bool,
}

impl Guard {
    pub fn from_config(cfg: &WebsiteCheckConfig) -> Guard {
        Guard { allow_loopback: cfg.test_only_allow_loopback, allow_http: cfg.test_only_allow_http }
    }

    fn allows(&self, ip: IpAddr) -> bool {
        super::is_public(ip) || (self.allow_loopback && super::is_loopback(ip))
    }

    /// The scheme, and the host when it is an IP literal (a name is checked when resolved).
    pub fn check_url(&self, url: &Url) -> Result<(), Refused> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            _ => return Err(Refused::Scheme(url.to_string())),
        }
        let Some(host) = url.host_str() else { return Err(Refused::Scheme(url.to_string())) };
        // An IPv6 literal comes bracketed; a name does not parse as an address.
        let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() else { return Ok(()) };
        if self.allows(ip) { Ok(()) } else { Err(Refused::Address { host: ip.to_string(), addresses: ip.to_string() }) }
    }
}

/// The system resolver, keeping only the addresses the guard allows.
struct GuardedResolver(Guard);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.0;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
                resolved.into_iter().partition(|a| guard.allows(a.ip()));
            if allowed.is_empty() {
                let addresses = refused.iter().map(|a| a.ip().to_string()).collect::<Vec<_>>().join(", ");
                return Err(Box::new(Refused::Address { host, addresses }) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Fetches `url` under the configured limits. Never fails: errors are part of the result.
pub async fn fetch(cfg: &WebsiteCheckConfig, url: &str) -> Fetched {
    let failed = |code: &str, detail: String| Fetched { error: Some((code.to_string(), detail)), ..Default::default() };
    let guard = Guard::from_config(cfg);
    let parsed = match Url::parse(url.trim()) {
        Ok(u) => u,
        Err(e) => return failed("invalid_url", format!("{url:?} is not an address: {e}")),
    };
    if let Err(r) = guard.check_url(&parsed) {
        return failed(r.code(), r.to_string());
    }
    let redirects = Arc::new(Mutex::new(Vec::new()));
    let client = match client(cfg, guard, redirects.clone()) {
        Ok(c) => c,
        Err(e) => return failed("client", e),
    };
    // reqwest's timeout covers the body too; this one also bounds our own reading.
    let total = Duration::from_secs(cfg.timeout_seconds);
    let result = tokio::time::timeout(total, get(&client, parsed, cfg.max_bytes)).await;
    let mut fetched = match result {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => {
            let (code, detail) = classify(&e, cfg);
            failed(code, detail)
        }
        Err(_) => failed("timeout", format!("no complete answer within {} s", cfg.timeout_seconds)),
    };
    fetched.redirects = redirects.lock().map(|r| r.clone()).unwrap_or_default();
    fetched
}

fn client(cfg: &WebsiteCheckConfig, guard: Guard, redirects: Arc<Mutex<Vec<String>>>) -> Result<Client, String> {
    let max = cfg.max_redirects;
    let policy = Policy::custom(move |attempt: Attempt| {
        // `previous` holds every address asked so far, the first one included.
        if attempt.previous().len() > max as usize {
            return attempt.error(Refused::TooManyRedirects(max));
        }
        if let Err(r) = guard.check_url(attempt.url()) {
            return attempt.error(r);
        }
        if let Ok(mut r) = redirects.lock() {
            r.push(attempt.url().to_string());
        }
        attempt.follow()
    });
    let mut builder = Client::builder()
        .no_proxy()
        .redirect(policy)
        .dns_resolver(Arc::new(GuardedResolver(guard)))
        .https_only(!cfg.test_only_allow_http)
        .timeout(Duration::from_secs(cfg.timeout_seconds))
        .connect_timeout(Duration::from_secs(cfg.connect_timeout_seconds))
        .tls_info(true)
        .user_agent(concat!("creditline-website-check/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = &cfg.test_only_root_certificate {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build().map_err(|e| e.to_string())
}

async fn get(client: &Client, url: Url, max_bytes: u64) -> Result<Fetched, reqwest::Error> {
    let mut response = client.get(url).header(reqwest::header::ACCEPT, "text/html, */*;q=0.5").send().await?;
    let certificate_subject = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .and_then(certificate_subject);
    let content_type =
        response.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut fetched = Fetched {
        status: Some(response.status().as_u16()),
        final_url: Some(response.url().to_string()),
        content_type,
        certificate_subject,
        ..Default::default()
    };
    let cap = usize::try_from(max_bytes).unwrap_or(usize::MAX);
    while let Some(chunk) = response.chunk().await? {
        let room = cap - fetched.body.len();
        if chunk.len() > room {
            fetched.body.extend_from_slice(&chunk[..room]);
            fetched.truncated = true;
            break;
        }
        fetched.body.extend_from_slice(&chunk);
    }
    Ok(fetched)
}

/// The subject of a DER certificate, as `CN=…, O=…`.
fn certificate_subject(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.subject().to_string())
}

/// An error code and its words: the guard's refusal when it is in the chain.
fn classify(e: &reqwest::Error, cfg: &WebsiteCheckConfig) -> (&'static str, String) {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut words = Vec::new();
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<Refused>() {
            return (r.code(), r.to_string());
        }
        words.push(s.to_string());
        source = s.source();
    }
    words.dedup();
    let detail = words.join(": ");
    if e.is_timeout() {
        ("timeout", format!("no complete answer within {} s", cfg.timeout_seconds))
    } else if e.is_redirect() {
        ("too_many_redirects", detail)
    } else if e.is_connect() {
        ("connect_failed", detail)
    } else {
        ("http_error", detail)
    }
}
