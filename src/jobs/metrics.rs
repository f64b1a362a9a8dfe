//! Prometheus metrics of this process (`GET /metrics`): jobs done, failed and retried per
//! kind, emails sent and failed, and the queue depth (read from the outbox at each scrape, so
//! it is the whole deployment's, not only this process's).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::email::transport::Attempted;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Status {
    status: String,
}

pub struct Metrics {
    registry: Registry,
    jobs_done: Family<Kind, Counter>,
    jobs_failed: Family<Kind, Counter>,
    jobs_retried: Family<Kind, Counter>,
    emails_sent: Counter,
    emails_failed: Counter,
    queue_depth: Family<Status, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("creditline");
        let m = Metrics {
            registry: Registry::default(),
            jobs_done: Family::default(),
            jobs_failed: Family::default(),
            jobs_retried: Family::default(),
            emails_sent: Counter::default(),
            emails_failed: Counter::default(),
            queue_depth: Family::default(),
        };
        registry.register("jobs_done", "Jobs finished, per kind", m.jobs_done.clone());
        registry.register("jobs_failed", "Jobs that ended in failure, per kind", m.jobs_failed.clone());
        registry.register(
            "jobs_retried",
            "Jobs scheduled to run again after a transient failure",
            m.jobs_retried.clone(),
        );
        registry.register("emails_sent", "Emails handed to the transport", m.emails_sent.clone());
        registry.register(
            "emails_failed",
            "Emails given up on (permanent failure or attempts used up)",
            m.emails_failed.clone(),
        );
        registry.register("queue_depth", "Email outbox rows per delivery status", m.queue_depth.clone());
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// Counts one send job's result.
    pub fn email_job(&self, a: &Attempted) {
        let kind = Kind { kind: "send_email".into() };
        match a {
            Attempted::Sent { .. } => {
                self.emails_sent.inc();
                self.jobs_done.get_or_create(&kind).inc();
            }
            Attempted::Retrying { .. } => {
                self.jobs_retried.get_or_create(&kind).inc();
            }
            Attempted::Failed { .. } => {
                self.emails_failed.inc();
                self.jobs_failed.get_or_create(&kind).inc();
            }
            Attempted::Skipped | Attempted::Superseded => {
                self.jobs_done.get_or_create(&kind).inc();
            }
        }
    }

    /// A job of `kind` that could not run (its database was unreachable, ...).
    pub fn job_error(&self, kind: &str) {
        self.jobs_failed.get_or_create(&Kind { kind: kind.into() }).inc();
    }

    pub fn job_done(&self, kind: &str) {
        self.jobs_done.get_or_create(&Kind { kind: kind.into() }).inc();
    }

    /// The text exposition, with the queue depth as given (status, rows).
    pub fn render(&self, depth: &[(String, i64)]) -> String {
        for status in ["pending", "queued", "sending", "sent", "failed"] {
            let n = depth.iter().find(|(s, _)| s == status).map_or(0, |(_, n)| *n);
            self.queue_depth.get_or_create(&Status { status: status.into() }).set(n);
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_in_the_text_format() {
        let m = Metrics::default();
        m.email_job(&Attempted::Sent { message_id: "<a@b>".into() });
        m.email_job(&Attempted::Retrying { after: std::time::Duration::from_secs(1), error: "down".into() });
        m.email_job(&Attempted::Failed { error: "550".into() });
        let text = m.render(&[("pending".into(), 3)]);
        assert!(text.contains("creditline_emails_sent_total 1"), "{text}");
        assert!(text.contains("creditline_emails_failed_total 1"), "{text}");
        assert!(text.contains("creditline_jobs_retried_total{kind=\"send_email\"} 1"), "{text}");
        assert!(text.contains("creditline_jobs_failed_total{kind=\"send_email\"} 1"), "{text}");
        assert!(text.contains("creditline_queue_depth{status=\"pending\"} 3"), "{text}");
        assert!(text.contains("creditline_queue_depth{status=\"failed\"} 0"), "{text}");
    }
}
