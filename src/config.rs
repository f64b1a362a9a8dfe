//! Configuration: built-in defaults < `creditline.toml` < `CREDITLINE_*` environment
//! variables. Unknown keys are errors that name the key: a misspelt setting silently falling
//! back to its default is how a production service ends up mailing from the wrong address.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use figment::value::Value;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Variables with this prefix belong to the test suites, not to the service.
const RESERVED_ENV: [&str; 2] = ["test_", "config"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `sqlite://FILE` (the embedded default, created if missing) or `postgres://...`.
    pub database_url: String,
    /// PostgreSQL connections this process's pool holds at most (apalis' job queue keeps 4
    /// more). Every process has its own: sum them against the server's `max_connections`.
    pub database_max_connections: u32,
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    pub rules_dir: PathBuf,
    /// Limits on each rule evaluation.
    pub rules: RulesConfig,
    pub workflows_dir: PathBuf,
    pub templates_dir: PathBuf,
    pub log_format: LogFormat,
    /// A tracing filter, e.g. `info` or `creditline=debug,sqlx=warn`.
    pub log_level: String,
    /// A task older than this is overdue in the queue.
    pub task_sla_hours: u32,
    /// Approvals of a monthly limit at or above this many cents need a second approval by a
    /// different senior reviewer (four-eyes). Default $1,000/month.
    pub four_eyes_from_cents: i64,
    /// The support mailbox to poll (`creditline inbox poll`); none by default.
    pub imap: Option<ImapConfig>,
    /// Outgoing email: sender, transport, retries.
    pub mail: MailConfig,
    /// Background workers (`creditline worker`, and `serve` unless `--no-workers`).
    pub workers: WorkerConfig,
    /// Reminders and time-outs for applications waiting on the applicant.
    pub reminders: ReminderConfig,
    /// Monthly billing cycles.
    pub billing: BillingConfig,
    /// Payment providers' webhooks.
    pub payments: PaymentsConfig,
    /// Bounds on the money the ledger takes in.
    pub ledger: LedgerConfig,
    /// Inbound mail: what intake trusts.
    pub intake: IntakeConfig,
    /// The background website check (off by default; on in production).
    pub website_check: WebsiteCheckConfig,
    /// Invoices: the issuer printed on them and their numbering.
    pub invoices: InvoiceConfig,
    /// For simulations only: every process reads the time from this file (one RFC 3339
    /// instant) instead of the system clock, so `creditline simulate` moves the serve and
    /// worker processes through months in minutes. Never set in production.
    pub test_only_clock_file: Option<PathBuf>,
}

/// The website check (`src/website`): after intake learns an application's website, a
/// background job fetches it over HTTPS and records what it shows as evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebsiteCheckConfig {
    /// Off by default (a development machine or CI should not fetch the applicants' sites);
    /// turn it on in production.
    pub enabled: bool,
    /// The whole fetch, redirects and body included, in seconds.
    pub timeout_seconds: u64,
    /// Each TCP and TLS connection, in seconds.
    pub connect_timeout_seconds: u64,
    /// Bytes of the page read at most; the rest is not downloaded (`truncated`).
    pub max_bytes: u64,
    /// Redirects followed at most; one more is refused (`too_many_redirects`).
    pub max_redirects: u32,
    /// TEST ONLY: lets the check connect to loopback addresses (127.0.0.0/8, ::1), so tests
    /// can serve sites from the test process. Private, link-local and every other non-public
    /// address stay refused. Never set in production: it opens the service's own machine to
    /// whoever names a website.
    pub test_only_allow_loopback: bool,
    /// TEST ONLY: accepts `http://` sites and redirects (production fetches HTTPS only).
    pub test_only_allow_http: bool,
    /// TEST ONLY: a PEM file of one more root certificate to trust (a test's self-signed
    /// certificate authority), besides the public web roots.
    pub test_only_root_certificate: Option<PathBuf>,
}

impl Default for WebsiteCheckConfig {
    fn default() -> Self {
        WebsiteCheckConfig {
            enabled: false,
            timeout_seconds: 10,
            connect_timeout_seconds: 5,
            max_bytes: 1024 * 1024,
            max_redirects: 5,
            test_only_allow_loopback: false,
            test_only_allow_http: false,
            test_only_root_certificate: None,
        }
    }
}

impl WebsiteCheckConfig {
    /// Whether a test-only relaxation is set (the workers log a warning for it).
    pub fn relaxed(&self) -> bool {
        self.test_only_allow_loopback || self.test_only_allow_http || self.test_only_root_certificate.is_some()
    }
}

/// What every invoice says of its issuer, and how its number is printed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InvoiceConfig {
    /// The issuer's legal name.
    pub issuer_name: String,
    /// The issuer's address, one entry per printed line.
    pub issuer_address: Vec<String>,
    /// The issuer's tax or VAT id, printed when set.
    pub issuer_tax_id: Option<String>,
    /// The address printed for billing questions.
    pub issuer_email: String,
    /// Printed before the (gapless, sequential) number: `INV-` gives `INV-000001`.
    pub number_prefix: String,
}

impl Default for InvoiceConfig {
    fn default() -> Self {
        InvoiceConfig {
            issuer_name: "WaveSpeedAI".to_string(),
            issuer_address: Vec::new(),
            issuer_tax_id: None,
            issuer_email: "support@wavespeed.ai".to_string(),
            number_prefix: "INV-".to_string(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntakeConfig {
    /// The `authserv-id` our own receiving mail server writes into `Authentication-Results`
    /// (e.g. `mx.wavespeed.ai`). Only that header is trusted: any other may be forged by the
    /// sender. With it, a domain or account confirmation counts only when DMARC (or DKIM or
    /// SPF aligned with the domain) passed; without it, a confirmation carries the finding
    /// `sender_not_authenticated` for the reviewer.
    pub authserv_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerConfig {
    /// The most one ledger operation may move (a top-up, payment, deposit, release, coupon
    /// credit, adjustment of either sign, debit, or a webhook's amount). Default $1,000,000.
    pub max_amount_cents: i64,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig { max_amount_cents: 100_000_000 }
    }
}

impl LedgerConfig {
    pub fn max_amount(&self) -> crate::domain::Money {
        crate::domain::Money::from_cents(self.max_amount_cents)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Wall-clock milliseconds one rule evaluation may run; past it the rule is stopped and
    /// the decision goes to a person (`rule_budget_exceeded`).
    pub budget_ms: u64,
    /// The highest monthly limit (and deposit) a rule may return, in cents; anything above
    /// goes to a person. Default $100,000/month.
    pub max_limit_cents: i64,
    /// Development (the default): the rules are the `rules_dir` folder, reloaded by SIGHUP
    /// and `POST /api/v1/admin/reload-rules`. Production sets `false`: the rules in force are
    /// the active policy version in the database, changed only by a proposal that another
    /// admin or senior reviewer approves (`creditline rules propose|approve|rollback`); the
    /// folder only seeds the first version, and a reload is refused.
    pub from_folder: bool,
    /// With `from_folder = false`: how often each process looks for a newly activated policy
    /// version, in seconds.
    pub poll_seconds: u64,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig { budget_ms: 50, max_limit_cents: 10_000_000, from_folder: true, poll_seconds: 5 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentsConfig {
    /// The Stripe endpoint's signing secret (`whsec_...`); without it the Stripe webhook
    /// answers 404.
    pub stripe_webhook_secret: Option<Secret>,
    /// A signature older (or newer) than this many seconds is refused.
    pub tolerance_seconds: u64,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        PaymentsConfig { stripe_webhook_secret: None, tolerance_seconds: 300 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BillingConfig {
    /// A bill is due this many days after its month ends.
    pub due_days: u32,
    /// Lines a cycle close bills per transaction, and the page of lines the scans over every
    /// line (increases, gating, reminders) read at a time.
    pub close_batch: i64,
    /// How often each worker runs the scheduled job (close the last month, gate, re-review).
    pub tick_seconds: u64,
    /// An unpaid bill gets one `payment_reminder` email from this many days before its last
    /// day to pay (0: on the last day itself), sent by the reminder scan.
    pub remind_days_before: u32,
}

impl Default for BillingConfig {
    fn default() -> Self {
        BillingConfig { due_days: 10, close_batch: 500, tick_seconds: 3600, remind_days_before: 3 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailTransport {
    /// Each message as `<outbox id>.eml` in `mail.dir` (the embedded default).
    File,
    /// SMTP through `mail.smtp`.
    Smtp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// From and Reply-To of every message, e.g. `WaveSpeedAI Support <support@wavespeed.ai>`.
    pub from: String,
    pub transport: MailTransport,
    /// The folder of the `file` transport.
    pub dir: PathBuf,
    pub smtp: SmtpConfig,
    /// Delivery attempts before a transient failure counts as permanent.
    pub max_attempts: u32,
    /// The first retry waits about this long; each next one twice as long (with jitter).
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// How long one worker holds a message it is sending; a worker that dies mid-send
    /// gives it back after this.
    pub lease_seconds: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            from: "WaveSpeedAI Support <support@wavespeed.ai>".into(),
            transport: MailTransport::File,
            dir: PathBuf::from("mail-out"),
            smtp: SmtpConfig::default(),
            max_attempts: 8,
            retry_base_ms: 30_000,
            retry_max_ms: 3_600_000,
            lease_seconds: 120,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain SMTP: only for a relay on this machine or a test server.
    None,
    /// STARTTLS on the submission port (587), required.
    Starttls,
    /// TLS from the first byte (465).
    Tls,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub timeout_seconds: u64,
    /// Connections kept open to the server.
    pub pool_size: u32,
    /// TEST ONLY: a PEM file of one more root certificate to trust for STARTTLS and TLS (a
    /// test's self-signed certificate authority), besides the public roots.
    pub test_only_root_certificate: Option<PathBuf>,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: "localhost".into(),
            port: 587,
            tls: SmtpTls::Starttls,
            username: None,
            password: None,
            timeout_seconds: 30,
            pool_size: 4,
            test_only_root_certificate: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Names the job queues; deployments (or test runs) sharing one database keep apart by it.
    pub queue: String,
    /// Emails sent at the same time per worker process.
    pub concurrency: usize,
    /// How often an idle worker looks for jobs.
    pub poll_ms: u64,
    /// How often the relay moves outbox rows to jobs and the reminder scan runs.
    pub tick_ms: u64,
    /// Outbox rows moved per relay round.
    pub batch: i64,
    /// On SIGTERM, how long jobs in flight may take to finish.
    pub shutdown_seconds: u64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            queue: "creditline".into(),
            concurrency: 4,
            poll_ms: 500,
            tick_ms: 1000,
            batch: 200,
            shutdown_seconds: 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReminderConfig {
    /// Days without an answer before the one reminder goes out.
    pub remind_after_days: u32,
    /// Days without an answer before the application is deferred.
    pub time_out_after_days: u32,
    /// How often the scan runs.
    pub scan_interval_seconds: u64,
    /// Days a limit increase (or an application at the deposit tier) waits for its guarantee
    /// before the one reminder of the shortfall goes out.
    pub deposit_remind_after_days: u32,
    /// Days it waits for its guarantee before it expires (declined or deferred, by email).
    pub deposit_time_out_after_days: u32,
}

impl Default for ReminderConfig {
    fn default() -> Self {
        ReminderConfig {
            remind_after_days: 5,
            time_out_after_days: 14,
            scan_interval_seconds: 3600,
            deposit_remind_after_days: 7,
            deposit_time_out_after_days: 30,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: "sqlite://creditline.db".to_string(),
            database_max_connections: 16,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            rules_dir: PathBuf::from("rules"),
            rules: RulesConfig::default(),
            workflows_dir: PathBuf::from("workflows"),
            templates_dir: PathBuf::from("templates"),
            log_format: LogFormat::Text,
            log_level: "info".to_string(),
            task_sla_hours: 24,
            four_eyes_from_cents: 100_000,
            imap: None,
            mail: MailConfig::default(),
            workers: WorkerConfig::default(),
            reminders: ReminderConfig::default(),
            billing: BillingConfig::default(),
            payments: PaymentsConfig::default(),
            intake: IntakeConfig::default(),
            ledger: LedgerConfig::default(),
            website_check: WebsiteCheckConfig::default(),
            invoices: InvoiceConfig::default(),
            test_only_clock_file: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads the configuration. `file` is an explicit config file (it must exist); without
    /// one, `creditline.toml` in the working directory is read when present.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_from(file, std::env::vars())
    }

    /// As [`Config::load`], with the environment passed in (tests run in parallel and must
    /// not share process-wide variables).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) if !path.exists() => return Err(ConfigError::MissingFile(path.to_path_buf())),
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            // Optional: without an explicit file, ./creditline.toml is read only when present.
            None if Path::new("creditline.toml").exists() => {
                figment = figment.merge(Toml::file_exact("creditline.toml"))
            }
            None => {}
        }
        let known = known_keys();
        for (k, v) in env {
            let Some(key) = k.strip_prefix("CREDITLINE_").map(str::to_ascii_lowercase) else { continue };
            if RESERVED_ENV.iter().any(|r| key.starts_with(r)) {
                continue;
            }
            // `CREDITLINE_MAIL__TRANSPORT` is `mail.transport`.
            let key = key.replace("__", ".");
            let top = key.split('.').next().unwrap_or_default();
            if !known.iter().any(|k| k == top) {
                return Err(ConfigError::Invalid(format!(
                    "unknown environment variable {k}: there is no configuration key `{key}` (known keys: {})",
                    known.join(", ")
                )));
            }
            // Parsed like figment's own Env provider: "8080" becomes a number, "true" a bool.
            let value: Value = v.parse().unwrap_or_else(|never| match never {});
            figment = figment.merge(Serialized::global(&key, value));
        }
        let config: Config = figment.extract().map_err(|e| ConfigError::Invalid(describe(e)))?;
        config.check()?;
        Ok(config)
    }

    /// What serde cannot say about single values: how settings relate.
    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.mail.from.parse::<lettre::message::Mailbox>().is_err() {
            return invalid(format!("mail.from: {:?} is not an email address", self.mail.from));
        }
        if self.intake.authserv_id.as_deref().is_some_and(|id| id.trim().is_empty() || id.contains(char::is_whitespace))
        {
            return invalid(format!("intake.authserv_id: {:?} is not a host name", self.intake.authserv_id));
        }
        // A reminder earlier than a month before the last day would come before the bill.
        if self.billing.remind_days_before > 31 {
            return invalid(format!("billing.remind_days_before: at most 31, not {}", self.billing.remind_days_before));
        }
        if self.mail.max_attempts == 0 {
            return invalid("mail.max_attempts: at least 1".into());
        }
        if self.mail.retry_base_ms == 0 || self.mail.retry_base_ms > self.mail.retry_max_ms {
            return invalid("mail.retry_base_ms: more than 0 and at most mail.retry_max_ms".into());
        }
        if !(1..=1000).contains(&self.database_max_connections) {
            return invalid(format!("database_max_connections: from 1 to 1000, not {}", self.database_max_connections));
        }
        if self.mail.lease_seconds == 0 {
            return invalid("mail.lease_seconds: at least 1".into());
        }
        if self.workers.concurrency == 0
            || self.workers.batch <= 0
            || self.workers.poll_ms == 0
            || self.workers.tick_ms == 0
        {
            return invalid(
                "workers.concurrency, workers.batch, workers.poll_ms and workers.tick_ms: at least 1".into(),
            );
        }
        if self.workers.queue.is_empty()
            || !self.workers.queue.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return invalid(format!("workers.queue: {:?}: letters, digits, '-', '_' and '.' only", self.workers.queue));
        }
        let max = crate::domain::MAX_BALANCE;
        if self.ledger.max_amount_cents <= 0 || self.ledger.max_amount_cents > max.cents() {
            return invalid(format!("ledger.max_amount_cents: from 1 to {} ({max})", max.cents()));
        }
        if !(1..=60_000).contains(&self.rules.budget_ms) {
            return invalid(format!("rules.budget_ms: {} is not between 1 and 60000", self.rules.budget_ms));
        }
        if !(1..=3600).contains(&self.rules.poll_seconds) {
            return invalid(format!("rules.poll_seconds: {} is not between 1 and 3600", self.rules.poll_seconds));
        }
        if self.rules.max_limit_cents < 1 {
            return invalid(format!("rules.max_limit_cents: {} is not at least 1", self.rules.max_limit_cents));
        }
        let w = &self.website_check;
        if !(1..=120).contains(&w.timeout_seconds) || !(1..=w.timeout_seconds).contains(&w.connect_timeout_seconds) {
            return invalid(format!(
                "website_check.timeout_seconds ({}) must be from 1 to 120 and website_check.connect_timeout_seconds ({}) from 1 to it",
                w.timeout_seconds, w.connect_timeout_seconds
            ));
        }
        if !(1..=16 * 1024 * 1024).contains(&w.max_bytes) {
            return invalid(format!("website_check.max_bytes: {} is not between 1 and 16777216", w.max_bytes));
        }
        if w.max_redirects > 20 {
            return invalid(format!("website_check.max_redirects: {} is more than 20", w.max_redirects));
        }
        let r = &self.reminders;
        if r.remind_after_days == 0 || r.remind_after_days >= r.time_out_after_days {
            return invalid(format!(
                "reminders.remind_after_days ({}) must be at least 1 and less than reminders.time_out_after_days ({})",
                r.remind_after_days, r.time_out_after_days
            ));
        }
        if r.deposit_remind_after_days == 0 || r.deposit_remind_after_days >= r.deposit_time_out_after_days {
            return invalid(format!(
                "reminders.deposit_remind_after_days ({}) must be at least 1 and less than reminders.deposit_time_out_after_days ({})",
                r.deposit_remind_after_days, r.deposit_time_out_after_days
            ));
        }
        Ok(())
    }
}

/// Top-level configuration keys, taken from the defaults so the list cannot drift.
fn known_keys() -> Vec<String> {
    match serde_json::to_value(Config::default()) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Figment's errors name the key and where it came from; keep all of them.
fn describe(e: figment::Error) -> String {
    e.into_iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")
}

/// The support inbox `creditline inbox poll` reads (`[imap]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    pub user: String,
    pub password: Secret,
    #[serde(default = "default_mailbox")]
    pub mailbox: String,
    /// Seconds between polls in `creditline inbox poll` (without `--once`).
    #[serde(default = "default_interval")]
    pub poll_interval_seconds: u64,
    /// `none`: plain IMAP, allowed only to a loopback address (a password must not cross a
    /// network in clear). `implicit`: TLS from the first byte (IMAPS, usually port 993), the
    /// server's certificate checked against the public roots; any host.
    #[serde(default)]
    pub tls: ImapTls,
    /// TEST ONLY: a PEM file of one more root certificate to trust (a test's self-signed
    /// certificate authority), besides the public roots.
    #[serde(default)]
    pub test_only_root_certificate: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImapTls {
    #[default]
    None,
    Implicit,
}

fn default_port() -> u16 {
    143
}
fn default_mailbox() -> String {
    "INBOX".into()
}
fn default_interval() -> u64 {
    60
}

/// A password or signing secret from the configuration. `Debug` prints `***`, so a config
/// in a log line or an error never shows it; [`Secret::expose`] is the one way to read it
/// (where it is used: the SMTP login, the IMAP login, the webhook signature check).
/// Serializing writes the value itself: that is writing a configuration file, not a log.
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(SecretString::from(value.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret::new(value)
    }
}

impl Clone for Secret {
    fn clone(&self) -> Secret {
        Secret::new(self.expose())
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        self.expose() == other.expose()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.expose())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

#[cfg(test)]
mod secret_tests {
    use super::*;

    /// Issue 19: passwords and the webhook secret never reach a log line through `Debug`, yet
    /// each is read where it is used and a configuration written out keeps it.
    #[test]
    fn secrets_print_as_stars_and_still_reach_their_use() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("creditline.toml");
        std::fs::write(
            &file,
            "[mail.smtp]\nusername = \"bot\"\npassword = \"smtp-pa55\"\n\
             [payments]\nstripe_webhook_secret = \"whsec_s3cret\"\n\
             [imap]\nhost = \"imap.example.com\"\nuser = \"inbox\"\npassword = \"imap-pa55\"\n",
        )
        .unwrap();
        let config = Config::load_from(Some(&file), Vec::new()).unwrap();
        let shown = format!("{config:?}");
        for secret in ["smtp-pa55", "whsec_s3cret", "imap-pa55"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("password: Some(***)"), "{shown}");
        assert_eq!(config.mail.smtp.password.as_ref().map(Secret::expose), Some("smtp-pa55"));
        assert_eq!(config.payments.stripe_webhook_secret.as_ref().map(Secret::expose), Some("whsec_s3cret"));
        assert_eq!(config.imap.as_ref().map(|i| i.password.expose()), Some("imap-pa55"));
        let written = toml::to_string(&config).unwrap();
        assert!(written.contains("whsec_s3cret"), "{written}");
        let again: Config = toml::from_str(&written).unwrap();
        assert_eq!(again, config);
    }
}
