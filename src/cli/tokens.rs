//! `creditline tokens create|list|revoke`: API tokens for reviewers, admins and mail gateways.

use std::process::ExitCode;

use clap::Subcommand;

use crate::app::App;
use crate::config::Config;
use crate::domain::Role;
use crate::services::access::{self, AccessError};

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a token and print it once; only its SHA-256 is stored.
    Create {
        /// A unique name, e.g. the person or system that will use it.
        #[arg(long)]
        name: String,
        /// reviewer, senior_reviewer, admin, or inbox (may only post inbox messages).
        #[arg(long)]
        role: Role,
    },
    /// List tokens (name, role, created, revoked); never the secrets.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by name; it stops working at once.
    Revoke { name: String },
}

impl TokensCommand {
    pub async fn run(self, config: Config) -> anyhow::Result<ExitCode> {
        let app = App::build(config, true).await?;
        let now = app.workflow.clock().now();
        match self {
            TokensCommand::Create { name, role } => match access::issue_token(&app, &name, role, now).await {
                Ok((text, _)) => {
                    eprintln!("token {name} ({role}) created; it is shown only this once:");
                    println!("{text}");
                }
                Err(e @ (AccessError::NameTaken(_) | AccessError::BadName)) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(2));
                }
                Err(e) => return Err(e.into()),
            },
            TokensCommand::List { json } => {
                for t in access::tokens(&app).await? {
                    if json {
                        println!("{}", serde_json::to_string(&t)?);
                    } else {
                        println!(
                            "{:<24} {:<16} created {}{}",
                            t.name,
                            t.role,
                            t.created_at.format("%Y-%m-%d %H:%M"),
                            t.revoked_at
                                .map(|r| format!("  revoked {}", r.format("%Y-%m-%d %H:%M")))
                                .unwrap_or_default()
                        );
                    }
                }
            }
            TokensCommand::Revoke { name } => {
                if !access::revoke_token(&app, &name, now).await? {
                    eprintln!("error: no active token named {name:?}");
                    return Ok(ExitCode::from(2));
                }
                println!("revoked {name}");
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
