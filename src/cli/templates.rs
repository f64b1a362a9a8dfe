use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::config::Config;
use crate::email::{Templates, context::context};

#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// Compile every email template; errors name the file (syntax, a missing block, a
    /// variable no email provides).
    Check,
    /// Preview one email: render its subject, text and HTML with data from a JSON file.
    Render {
        /// Template name, e.g. application_approved.
        name: String,
        /// A JSON object: an outbox payload (`monthly_limit_cents`, `missing`, `to`, ...) or
        /// template variables (`limit`, `reference`, ...).
        #[arg(long)]
        data: PathBuf,
        /// Print the result as JSON (subject, text, html).
        #[arg(long)]
        json: bool,
    },
}

impl TemplatesCommand {
    pub fn run(self, config: &Config) -> anyhow::Result<ExitCode> {
        let templates = match Templates::load(&config.templates_dir) {
            Ok(t) => t,
            Err(errors) => {
                for e in errors {
                    eprintln!("{e}");
                }
                return Ok(ExitCode::FAILURE);
            }
        };
        match self {
            TemplatesCommand::Check => {
                let names: Vec<&str> = templates.names().collect();
                println!("ok: {} email templates ({})", names.len(), names.join(", "));
            }
            TemplatesCommand::Render { name, data, json } => {
                let raw = std::fs::read(&data).map_err(|e| anyhow::anyhow!("{}: {e}", data.display()))?;
                let given: serde_json::Value =
                    serde_json::from_slice(&raw).map_err(|e| anyhow::anyhow!("{}: not JSON: {e}", data.display()))?;
                if !given.is_object() {
                    anyhow::bail!("{}: the data must be a JSON object", data.display());
                }
                // Payload facts become template words; variables given directly win.
                let mut vars = context(&given, None);
                if let (Some(v), Some(g)) = (vars.as_object_mut(), given.as_object()) {
                    v.extend(g.iter().map(|(k, x)| (k.clone(), x.clone())));
                }
                let rendered = match templates.render(&name, &vars) {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("{e}");
                        return Ok(ExitCode::FAILURE);
                    }
                };
                // A closed pipe (`| head`) is not an error worth a panic.
                let mut out = std::io::stdout().lock();
                let _ = if json {
                    writeln!(out, "{}", serde_json::to_string_pretty(&rendered)?)
                } else {
                    writeln!(out, "Subject: {}\n\n{}\n--- html ---\n{}", rendered.subject, rendered.text, rendered.html)
                };
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
