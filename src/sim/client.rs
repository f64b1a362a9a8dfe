//! The simulation's HTTP client: reviewers, the mail gateway and the payment provider talk
//! to the real server through it. A request that finds the server gone (a fault killed it)
//! is sent again with the same `Idempotency-Key` once the driver has restarted the server.

use std::time::Duration;

use anyhow::{anyhow, bail};
use serde_json::Value;

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

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    pub base: String,
}

impl Client {
    pub fn new(addr: &str) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
        Ok(Client { http, base: format!("http://{addr}") })
    }

    pub async fn get(&self, path: &str, token: &str) -> anyhow::Result<Answer> {
        let r = self.http.get(format!("{}{path}", self.base)).bearer_auth(token).send().await?;
        answer(r).await
    }

    /// POSTs JSON with a bearer token and an idempotency key.
    pub async fn post(&self, path: &str, token: &str, key: &str, body: &Value) -> anyhow::Result<Answer> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .header("Content-Type", "application/json")
            .body(serde_json::to_vec(body)?)
            .send()
            .await?;
        answer(r).await
    }

    /// POSTs raw bytes with extra headers (a raw email, a signed webhook).
    pub async fn post_raw(&self, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> anyhow::Result<Answer> {
        let mut req = self.http.post(format!("{}{path}", self.base)).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        answer(req.send().await?).await
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
