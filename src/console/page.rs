//! Rendering: the templates (compiled in, HTML auto-escaped, so an applicant's `<script>`
//! shows as text) and the one error type every console handler answers with.

use std::sync::OnceLock;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::Environment;
use serde::Serialize;

use crate::services::access::AccessError;
use crate::services::tasks::TaskError;
use crate::services::{Failure, FailureKind};

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/console/base.html")),
    ("sign_in.html", include_str!("../../templates/console/sign_in.html")),
    ("queue.html", include_str!("../../templates/console/queue.html")),
    ("task.html", include_str!("../../templates/console/task.html")),
    ("task_forms.html", include_str!("../../templates/console/task_forms.html")),
    ("decide.html", include_str!("../../templates/console/decide.html")),
    ("error.html", include_str!("../../templates/console/error.html")),
    ("thread.html", include_str!("../../templates/console/thread.html")),
    ("line_panel.html", include_str!("../../templates/console/line_panel.html")),
    ("notes.html", include_str!("../../templates/console/notes.html")),
    ("search.html", include_str!("../../templates/console/search.html")),
    ("account.html", include_str!("../../templates/console/account.html")),
    ("lines.html", include_str!("../../templates/console/lines.html")),
    ("line.html", include_str!("../../templates/console/line.html")),
    ("audit.html", include_str!("../../templates/console/audit.html")),
    ("dashboard.html", include_str!("../../templates/console/dashboard.html")),
    ("workflows.html", include_str!("../../templates/console/workflows.html")),
    ("link.html", include_str!("../../templates/console/link.html")),
    ("policies.html", include_str!("../../templates/console/policies.html")),
    ("policy.html", include_str!("../../templates/console/policy.html")),
    ("rule_analytics.html", include_str!("../../templates/console/rule_analytics.html")),
];

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // Names end in `.html`, so minijinja escapes every value for HTML.
        for (name, source) in TEMPLATES {
            // The templates are compiled in and parsed by a unit test: they cannot fail here
            // unless that test fails too.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "console template does not parse");
            }
        }
        env.add_filter("cents", cents);
        env
    })
}

/// `12345` → `$123.45`.
fn cents(value: i64) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let v = value.unsigned_abs();
    format!("{sign}${}.{:02}", v / 100, v % 100)
}

/// A page rendered from `name` with `context`.
pub fn render(name: &str, context: impl Serialize) -> Result<Html<String>, ConsoleError> {
    let template = templates().get_template(name).map_err(|e| ConsoleError::Internal(e.to_string()))?;
    template.render(context).map(Html).map_err(|e| ConsoleError::Internal(e.to_string()))
}

/// A urlencoded form, refused with the console's 400 page (not axum's plain-text 422) when it
/// does not parse: a missing or mistyped field names itself.
pub struct Form<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for Form<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ConsoleError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Form<T>, ConsoleError> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(value)) => Ok(Form(value)),
            Err(e) => Err(ConsoleError::BadRequest(format!("the form could not be read: {}", e.body_text()))),
        }
    }
}

/// What a console request can end in besides its page.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No good session: back to the sign-in page.
    #[error("sign in first")]
    SignIn,
    #[error("{0}")]
    Forbidden(String),
    /// The form's CSRF token is missing or not this session's.
    #[error("this form has expired or was not sent from the console: reload the page and try again")]
    Csrf,
    /// Someone else acted first; nothing was applied.
    #[error("{0}")]
    Stale(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("something went wrong on our side; nothing was changed")]
    Internal(String),
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let status = match &self {
            ConsoleError::SignIn => return Redirect::to("/console/sign-in").into_response(),
            ConsoleError::Forbidden(_) | ConsoleError::Csrf => StatusCode::FORBIDDEN,
            ConsoleError::Stale(_) => StatusCode::CONFLICT,
            ConsoleError::NotFound(_) => StatusCode::NOT_FOUND,
            ConsoleError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ConsoleError::Internal(detail) => {
                tracing::error!(%detail, "console request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let message = self.to_string();
        let context = minijinja::context! { status => status.as_u16(), title => status.canonical_reason(), message };
        match render("error.html", context) {
            Ok(page) => (status, page).into_response(),
            Err(_) => (status, message).into_response(),
        }
    }
}

impl From<Failure> for ConsoleError {
    fn from(f: Failure) -> ConsoleError {
        match f.kind() {
            FailureKind::Conflict => ConsoleError::Stale(
                "someone else changed this since you loaded the page; nothing was applied. Reload to see it now."
                    .into(),
            ),
            FailureKind::NotFound(what) => ConsoleError::NotFound(format!("not found: {what}")),
            FailureKind::Internal => ConsoleError::Internal(f.to_string()),
        }
    }
}

impl From<AccessError> for ConsoleError {
    fn from(e: AccessError) -> ConsoleError {
        match e {
            AccessError::Unauthenticated => ConsoleError::SignIn,
            other => ConsoleError::Internal(other.to_string()),
        }
    }
}

impl From<TaskError> for ConsoleError {
    fn from(e: TaskError) -> ConsoleError {
        match e {
            TaskError::NotFound(_) => ConsoleError::NotFound(e.to_string()),
            TaskError::Closed(..) | TaskError::ClaimedByOther { .. } | TaskError::NotClaimed(_) => {
                ConsoleError::Stale(e.to_string())
            }
            TaskError::NotAssignee(_) => ConsoleError::Forbidden(e.to_string()),
            TaskError::Store(e) => Failure::from(e).into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn the_queue_links_its_next_page_with_the_filters_kept() {
        let filter = minijinja::context! { kind => "triage", state => "", assignee => "me", overdue => "on" };
        let page = render(
            "queue.html",
            minijinja::context! {
                me => "rita", role => "reviewer", csrf => "c", rows => vec![minijinja::context! {
                    id => "t1", title => "T", kind => "triage", state => "open", age => "1 h", version => 1,
                    claimable => true,
                }],
                kinds => vec!["triage"], states => vec!["open"], filter, counts => Vec::<String>::new(),
                next_cursor => "01a2 3&x", sla_hours => 24,
            },
        )
        .expect("renders");
        assert!(
            page.0.contains("kind=triage&amp;state=&amp;assignee=me&amp;overdue=on&amp;after=01a2%203%26x"),
            "{}",
            page.0
        );
    }

    #[test]
    fn cents_read_as_dollars() {
        assert_eq!(cents(20000), "$200.00");
        assert_eq!(cents(5), "$0.05");
        assert_eq!(cents(-1234), "-$12.34");
    }
}
