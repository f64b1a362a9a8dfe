//! The simulation's HTTP client: reviewers, the mail gateway and the payment provider talk
//! to the real server through it. A request that finds the server gone (a fault killed it)
//! is sent again with the same `Idempotency-Key` once the driver has restarted the server.
//!
//! Spread over several servers ([`Client::spread`], the scale-out run), a request that finds
//! its server dead goes to the next one at once, under the same key, and the answers and
//! their latencies are counted per kind of request ([`Stats`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use serde_json::Value;

/// How long a spread client keeps trying the other servers before it gives a request up.
const FAILOVER_FOR: Duration = Duration::from_secs(60);

/// One answer: status and body as JSON (or `null` when it is not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The problem code of an error answer.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

/// What the answers of a spread client were, per kind of request (its path without ids).
#[derive(Debug, Default)]
pub struct Stats {
    inner: Mutex<StatsInner>,
}

#[derive(Debug, Default)]
struct StatsInner {
    /// Microseconds from the first attempt to the answer, per kind.
    latencies: BTreeMap<String, Vec<u64>>,
    /// Answers per (kind, status).
    statuses: BTreeMap<(String, u16), u64>,
    /// Attempts that found their server gone and went on to another.
    failovers: u64,
    /// Every 5xx answer: kind, server, status and body.
    server_errors: Vec<String>,
}

/// One kind of request's figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KindFigures {
    pub kind: String,
    pub requests: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Answers by status.
    pub statuses: BTreeMap<u16, u64>,
}

impl Stats {
    fn answered(&self, kind: &str, base: &str, started: Instant, a: &Answer) {
        let Ok(mut s) = self.inner.lock() else { return };
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        s.latencies.entry(kind.to_string()).or_default().push(micros);
        *s.statuses.entry((kind.to_string(), a.status)).or_default() += 1;
        if a.status >= 500 {
            s.server_errors.push(format!("{kind} on {base}: {} {}", a.status, a.body));
        }
    }

    fn failed_over(&self) {
        if let Ok(mut s) = self.inner.lock() {
            s.failovers += 1;
        }
    }

    /// Per kind: count, percentiles and statuses.
    pub fn figures(&self) -> Vec<KindFigures> {
        let Ok(s) = self.inner.lock() else { return Vec::new() };
        s.latencies
            .iter()
            .map(|(kind, micros)| {
                let mut sorted = micros.clone();
                sorted.sort_unstable();
                let at = |q: f64| {
                    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
                    sorted.get(i).map_or(0.0, |m| *m as f64 / 1000.0)
                };
                let statuses =
                    s.statuses.iter().filter(|((k, _), _)| k == kind).map(|((_, status), n)| (*status, *n)).collect();
                KindFigures {
                    kind: kind.clone(),
                    requests: sorted.len(),
                    p50_ms: at(0.5),
                    p90_ms: at(0.9),
                    p99_ms: at(0.99),
                    max_ms: at(1.0),
                    statuses,
                }
            })
            .collect()
    }

    pub fn failovers(&self) -> u64 {
        self.inner.lock().map(|s| s.failovers).unwrap_or(0)
    }

    pub fn server_errors(&self) -> Vec<String> {
        self.inner.lock().map(|s| s.server_errors.clone()).unwrap_or_default()
    }
}

/// The kind of a request: its path without the API prefix, the query and the ids
/// (`/api/v1/tasks/0190…/approve` is `tasks.approve`).
pub fn kind_of(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && *p != "api" && *p != "v1").collect();
    let is_id = |p: &str| p.len() >= 16 && p.chars().any(|c| c.is_ascii_digit());
    let mut kind: Vec<&str> = segments.iter().copied().filter(|p| !is_id(p)).collect();
    match segments.last() {
        Some(last) if is_id(last) => kind.push("view"),
        _ if segments.len() == 1 => kind.push("list"),
        _ => {}
    }
    kind.join(".")
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    bases: Arc<std::sync::RwLock<Vec<String>>>,
    next: Arc<AtomicUsize>,
    stats: Option<Arc<Stats>>,
}

impl Client {
    /// A client of one server; a request to a dead server is an error for the caller.
    pub fn new(addr: &str) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
        Ok(Client {
            http,
            bases: Arc::new(std::sync::RwLock::new(vec![format!("http://{addr}")])),
            next: Arc::new(AtomicUsize::new(0)),
            stats: None,
        })
    }

    /// A client of several servers taken in turn; a request whose server is gone goes to
    /// the next one (for up to a minute), and every answer is counted in `stats`.
    pub fn spread(addrs: &[String], stats: Arc<Stats>) -> anyhow::Result<Client> {
        if addrs.is_empty() {
            bail!("no server to send requests to");
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(2))
            .build()?;
        Ok(Client {
            http,
            bases: Arc::new(std::sync::RwLock::new(addrs.iter().map(|a| format!("http://{a}")).collect())),
            next: Arc::new(AtomicUsize::new(0)),
            stats: Some(stats),
        })
    }

    pub async fn get(&self, path: &str, token: &str) -> anyhow::Result<Answer> {
        self.send(path, |url| self.http.get(url).bearer_auth(token)).await
    }

    /// POSTs JSON with a bearer token and an idempotency key.
    pub async fn post(&self, path: &str, token: &str, key: &str, body: &Value) -> anyhow::Result<Answer> {
        let body = serde_json::to_vec(body)?;
        self.send(path, |url| {
            self.http
                .post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .header("Content-Type", "application/json")
                .body(body.clone())
        })
        .await
    }

    /// POSTs raw bytes with extra headers (a raw email, a signed webhook).
    pub async fn post_raw(&self, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> anyhow::Result<Answer> {
        self.send(path, |url| {
            let mut req = self.http.post(url).body(body.clone());
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req
        })
        .await
    }

    /// Sends to the next server; spread, a transport failure (the server died before or
    /// while answering) sends the same request to the one after. Every request carries what
    /// makes it safe to repeat: an Idempotency-Key, a Message-ID, a webhook's event id.
    async fn send(&self, path: &str, build: impl Fn(String) -> reqwest::RequestBuilder) -> anyhow::Result<Answer> {
        let started = Instant::now();
        let mut turn = self.next.fetch_add(1, Ordering::Relaxed);
        let servers = self.servers();
        loop {
            let base = self.bases.read().map(|b| b[turn % servers].clone()).map_err(|_| anyhow!("bases poisoned"))?;
            let base = base.as_str();
            match build(format!("{base}{path}")).send().await {
                Ok(r) => match answer(r).await {
                    Ok(a) => {
                        if let Some(stats) = &self.stats {
                            stats.answered(&kind_of(path), base, started, &a);
                        }
                        return Ok(a);
                    }
                    Err(e) if self.can_fail_over(started) => {
                        tracing::debug!("{path} on {base}: {e}; trying the next server");
                    }
                    Err(e) => return Err(e),
                },
                Err(e) if self.can_fail_over(started) => {
                    tracing::debug!("{path} on {base}: {e}; trying the next server");
                }
                Err(e) => return Err(e.into()),
            }
            if let Some(stats) = &self.stats {
                stats.failed_over();
            }
            turn += 1;
            if turn.is_multiple_of(servers) {
                // Every server was tried: give the restarted one a moment.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    fn can_fail_over(&self, started: Instant) -> bool {
        self.servers() > 1 && started.elapsed() < FAILOVER_FOR
    }

    fn servers(&self) -> usize {
        self.bases.read().map(|b| b.len()).unwrap_or(1)
    }

    /// Server `i` moved to `addr` (started again on another port).
    pub fn moved(&self, i: usize, addr: &str) {
        if let Ok(mut b) = self.bases.write()
            && let Some(slot) = b.get_mut(i)
        {
            *slot = format!("http://{addr}");
        }
    }

    /// Every page of a listing (`items`, `next_cursor`).
    pub async fn all(&self, path: &str, token: &str) -> anyhow::Result<Vec<Value>> {
        let mut out = Vec::new();
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                Some(c) => format!("{path}{sep}limit=500&after={c}"),
                None => format!("{path}{sep}limit=500"),
            };
            let page = self.get(&url, token).await?;
            if !page.ok() {
                bail!("GET {url}: {} {}", page.status, page.body);
            }
            if let Some(items) = page.body["items"].as_array() {
                out.extend(items.iter().cloned());
            }
            match page.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return Ok(out),
            }
        }
    }
}

async fn answer(r: reqwest::Response) -> anyhow::Result<Answer> {
    let status = r.status().as_u16();
    let bytes = r.bytes().await.map_err(|e| anyhow!("reading the answer: {e}"))?;
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok(Answer { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_leave_ids_and_queries_out() {
        assert_eq!(kind_of("/api/v1/tasks/0190a8e4-7c1d-7b3e-9f00-1234567890ab/approve"), "tasks.approve");
        assert_eq!(kind_of("/api/v1/tasks/0190a8e4-7c1d-7b3e-9f00-1234567890ab"), "tasks.view");
        assert_eq!(kind_of("/api/v1/tasks?state=open&limit=500"), "tasks.list");
        assert_eq!(kind_of("/api/v1/inbox/messages"), "inbox.messages");
        assert_eq!(kind_of("/api/v1/webhooks/stripe"), "webhooks.stripe");
    }
}
