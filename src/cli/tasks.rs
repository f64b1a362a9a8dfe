//! `creditline tasks list|show|resolve`: the reviewer task queue from the command line. The
//! caller is an API token (`--token` or `CREDITLINE_TOKEN`), so the CLI has the same roles,
//! audit and idempotency as the API.

use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};

use super::MAX_LIST;
use crate::app::App;
use crate::config::Config;
use crate::domain::{SubjectId, TaskId};
use crate::services::access;
use crate::services::actions::{Actor, IdempotencyKey};
use crate::services::task_actions::{self, TaskAction};
use crate::services::views::{self, TaskFilter};

#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum ActionArg {
    Approve,
    Decline,
    RequestInfo,
    Confirm,
    Reject,
    Attach,
    MarkSent,
    Retry,
    Close,
}

#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    /// Tasks as JSON lines, oldest first (open ones unless --state).
    List {
        /// e.g. triage, invoice_request, limit_increase_review, deposit_confirmation, email_failure.
        #[arg(long)]
        kind: Option<String>,
        /// open (default), done, obsolete, awaiting_second_approval, or all.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, allow_negative_numbers = true, value_parser = clap::value_parser!(i64).range(1..=MAX_LIST), default_value_t = 100)]
        limit: i64,
    },
    /// One task as JSON.
    Show { id: TaskId },
    /// Finish a task. By kind: limit_increase_review: approve, decline --reason, request_info
    /// --message; aws_login_review: approve, decline --reason; deposit_confirmation: confirm,
    /// reject --note; triage: attach --application REF | --credit-line ID, close --note;
    /// invoice_request: mark_sent --note [--invoice-reference], close --note; email_failure:
    /// retry, close --note. Application reviews are decided over the API
    /// (/api/v1/tasks/{id}/approve …).
    Resolve {
        id: TaskId,
        #[arg(long, value_enum)]
        action: ActionArg,
        /// The caller's API token (a reviewer or senior reviewer).
        #[arg(long, env = "CREDITLINE_TOKEN", hide_env_values = true)]
        token: String,
        #[arg(long)]
        note: Option<String>,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        message: Option<String>,
        /// attach: the application's reference.
        #[arg(long)]
        application: Option<String>,
        /// attach: the credit line's id.
        #[arg(long)]
        credit_line: Option<SubjectId>,
        #[arg(long)]
        invoice_reference: Option<String>,
        /// The task version acted on (refused if it changed since).
        #[arg(long)]
        version: Option<i64>,
        /// Running the command again with the same key gives the first answer.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
}

fn need(field: &str, v: Option<String>) -> Result<String, String> {
    v.filter(|s| !s.trim().is_empty()).ok_or_else(|| format!("--{field} is required for this action"))
}

#[allow(clippy::too_many_arguments)]
fn action(
    a: ActionArg,
    note: Option<String>,
    reason: Option<String>,
    message: Option<String>,
    application: Option<String>,
    credit_line: Option<SubjectId>,
    invoice_reference: Option<String>,
) -> Result<TaskAction, String> {
    Ok(match a {
        ActionArg::Approve => TaskAction::Approve { note },
        ActionArg::Decline => TaskAction::Decline { reason: need("reason", reason)? },
        ActionArg::RequestInfo => TaskAction::RequestInfo { message: need("message", message)? },
        ActionArg::Confirm => TaskAction::Confirm { note },
        ActionArg::Reject => TaskAction::Reject { note: need("note", note)? },
        ActionArg::Attach => TaskAction::Attach { application, credit_line, note },
        ActionArg::MarkSent => TaskAction::MarkSent { note: need("note", note)?, invoice_reference },
        ActionArg::Retry => TaskAction::Retry { note },
        ActionArg::Close => TaskAction::Close { note: need("note", note)? },
    })
}

impl TasksCommand {
    pub async fn run(self, config: Config) -> anyhow::Result<ExitCode> {
        let app = App::build(config, true).await?;
        match self {
            TasksCommand::List { kind, state, limit } => {
                let state = match state.as_deref() {
                    None => Some("open".to_string()),
                    Some("all") => None,
                    Some(s) => Some(s.to_string()),
                };
                let filter = TaskFilter { kind, state, assignee: None, created_before: None, after: None, limit };
                for t in views::tasks(&app, filter).await?.items {
                    println!("{}", serde_json::to_string(&t)?);
                }
                Ok(ExitCode::SUCCESS)
            }
            TasksCommand::Show { id } => match views::task(&app, id).await? {
                Some(t) => {
                    println!("{}", serde_json::to_string_pretty(&t)?);
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    eprintln!("error: no task {id}");
                    Ok(ExitCode::from(2))
                }
            },
            TasksCommand::Resolve {
                id,
                action: a,
                token,
                note,
                reason,
                message,
                application,
                credit_line,
                invoice_reference,
                version,
                idempotency_key,
            } => {
                let Ok(caller) = access::authenticate(&app, Some(&format!("Bearer {token}"))).await else {
                    eprintln!("error: the token is unknown or revoked");
                    return Ok(ExitCode::from(2));
                };
                let act = match action(a, note, reason, message, application, credit_line, invoice_reference) {
                    Ok(act) => act,
                    Err(e) => {
                        eprintln!("error: {e}");
                        return Ok(ExitCode::from(2));
                    }
                };
                let key = idempotency_key.map(|k| {
                    use sha2::{Digest, Sha256};
                    let h = Sha256::digest(format!("cli tasks resolve {id} {act:?}").as_bytes());
                    IdempotencyKey { key: k, request_hash: hex::encode(h) }
                });
                let request_id = format!("cli:{}", uuid::Uuid::now_v7());
                let actor = Actor { caller: &caller, request_id: &request_id, now: app.workflow.clock().now() };
                match task_actions::resolve(&app, &actor, id, version, act, key.as_ref()).await {
                    Ok(outcome) => {
                        println!("{}", serde_json::to_string_pretty(&outcome.body)?);
                        Ok(ExitCode::SUCCESS)
                    }
                    Err(e) if e.is_internal() => Err(e.into()),
                    Err(e) => {
                        eprintln!("error ({}): {e}", e.code());
                        Ok(ExitCode::from(2))
                    }
                }
            }
        }
    }
}
