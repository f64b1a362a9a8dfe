//! Configuration: built-in defaults < `creditline.toml` < `CREDITLINE_*` environment
//! variables. Unknown keys are errors that name the key: a misspelt setting silently falling
//! back to its default is how a production service ends up mailing from the wrong address.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use figment::value::Value;
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
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    pub rules_dir: PathBuf,
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
    pub imap: Option<crate::intake::imap::ImapConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: "sqlite://creditline.db".to_string(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            rules_dir: PathBuf::from("rules"),
            workflows_dir: PathBuf::from("workflows"),
            templates_dir: PathBuf::from("templates"),
            log_format: LogFormat::Text,
            log_level: "info".to_string(),
            task_sla_hours: 24,
            four_eyes_from_cents: 100_000,
            imap: None,
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
        figment.extract().map_err(|e| ConfigError::Invalid(describe(e)))
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
