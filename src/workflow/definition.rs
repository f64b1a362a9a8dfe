//! The shape of `workflows/*.toml` and its parsed, validated form.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use toml::Spanned;

/// What kind of record a workflow moves. Each kind has its own table of details; the state
/// and version of every instance live in one `workflow_instances` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    Application,
    AwsLogin,
    CreditLine,
    LimitIncrease,
    InvoiceRequest,
}

impl SubjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Application => "application",
            SubjectKind::AwsLogin => "aws_login",
            SubjectKind::CreditLine => "credit_line",
            SubjectKind::LimitIncrease => "limit_increase",
            SubjectKind::InvoiceRequest => "invoice_request",
        }
    }
}

/// Reviewer task kinds a transition may open. A closed list: a typo in a workflow file is
/// a start-up error, not a task nobody's queue shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    ApplicationReview,
    AwsLoginReview,
    Triage,
    InvoiceRequest,
    LimitIncreaseReview,
    DepositConfirmation,
    EmailFailure,
}

impl TaskKind {
    pub const ALL: [TaskKind; 7] = [
        TaskKind::ApplicationReview,
        TaskKind::AwsLoginReview,
        TaskKind::Triage,
        TaskKind::InvoiceRequest,
        TaskKind::LimitIncreaseReview,
        TaskKind::DepositConfirmation,
        TaskKind::EmailFailure,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            TaskKind::ApplicationReview => "application_review",
            TaskKind::AwsLoginReview => "aws_login_review",
            TaskKind::Triage => "triage",
            TaskKind::InvoiceRequest => "invoice_request",
            TaskKind::LimitIncreaseReview => "limit_increase_review",
            TaskKind::DepositConfirmation => "deposit_confirmation",
            TaskKind::EmailFailure => "email_failure",
        }
    }
}

impl FromStr for TaskKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        TaskKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or(())
    }
}

/// Something a transition causes besides the state change, written to the outbox in the
/// same transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Effect {
    /// An email rendered from `templates/email/<name>.j2`.
    Email(String),
    /// A reviewer task.
    Task(TaskKind),
}

impl Effect {
    pub fn kind(&self) -> &'static str {
        match self {
            Effect::Email(_) => "email",
            Effect::Task(_) => "task",
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Effect::Email(n) => n,
            Effect::Task(k) => k.as_str(),
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind(), self.name())
    }
}

/// A transition is enabled only when the named rule decided one of these outcomes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guard {
    pub rule: String,
    pub outcomes: Vec<String>,
}

impl Guard {
    pub fn admits(&self, outcome: &str) -> bool {
        self.outcomes.iter().any(|o| o == outcome)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct State {
    pub name: String,
    pub description: String,
    /// Under way: a new message from the account is read into it (`open = true`).
    pub open: bool,
    pub terminal: bool,
    pub keeps_prepaid_access: bool,
    /// A credit line in this state may draw credit, as far as the billing-cycle gate allows
    /// (`draws_credit = true`).
    pub draws_credit: bool,
    /// Waits for the applicant: reminded, then timed out, by the `[reminders]` settings
    /// (`reminded = true`).
    pub reminded: bool,
}

impl State {
    /// Neither ended nor decided: the subject's account still owns new messages to it.
    pub fn in_progress(&self) -> bool {
        !self.terminal && !self.keeps_prepaid_access
    }

    /// Decided against the applicant, who kept prepaid access, but not ended: a new
    /// application or a re-review may pick it up again (declined, deferred).
    pub fn reopenable(&self) -> bool {
        !self.terminal && self.keeps_prepaid_access
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    pub from: Vec<String>,
    pub event: String,
    /// `None`: the transition stays in its state (a reminder, a bill), recorded all the same.
    pub to: Option<String>,
    pub guard: Option<Guard>,
    pub effects: Vec<Effect>,
    pub reason_required: bool,
    /// The `Fire` data keys the code firing this transition supplies (`data = [...]`): the
    /// loader checks its emails need nothing else, the service refuses a step without them.
    pub data: Vec<String>,
    /// 1-based line in the workflow file, for error messages.
    pub line: usize,
}

impl Transition {
    pub fn target<'a>(&'a self, from: &'a str) -> &'a str {
        self.to.as_deref().unwrap_or(from)
    }
}

/// A validated workflow definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Definition {
    pub name: String,
    pub subject: SubjectKind,
    pub description: String,
    pub initial: String,
    pub initial_effects: Vec<Effect>,
    pub states: BTreeMap<String, State>,
    pub transitions: Vec<Transition>,
}

impl Definition {
    pub fn state(&self, name: &str) -> Option<&State> {
        self.states.get(name)
    }

    /// Transitions leaving `state`, in file order.
    pub fn transitions_from<'a>(&'a self, state: &'a str) -> impl Iterator<Item = &'a Transition> + 'a {
        self.transitions.iter().filter(move |t| t.from.iter().any(|f| f == state))
    }

    /// The names of the states with a property, in name order.
    pub fn states_where(&self, property: impl Fn(&State) -> bool) -> Vec<&str> {
        self.states.values().filter(|s| property(s)).map(|s| s.name.as_str()).collect()
    }

    /// The transition `event` takes from `state` given the rules' decided `outcomes`: the
    /// first in file order whose guard admits its rule's outcome (an unguarded one admits
    /// any). The engine's [`super::step`] chooses through this, and so do services that ask
    /// where a step would lead before they plan it.
    pub fn transition_for<'a>(
        &'a self,
        state: &'a str,
        event: &str,
        outcomes: &super::Outcomes,
    ) -> Option<&'a Transition> {
        self.transitions_from(state).filter(|t| t.event == event).find(|t| match &t.guard {
            None => true,
            Some(g) => outcomes.get(&g.rule).is_some_and(|o| g.admits(o)),
        })
    }

    /// Where `event` takes `state` given `outcomes`; `None` when no transition applies.
    pub fn target_of<'a>(&'a self, state: &'a str, event: &str, outcomes: &super::Outcomes) -> Option<&'a str> {
        self.transition_for(state, event, outcomes).map(|t| t.target(state))
    }

    /// Every rule a guard names.
    pub fn guard_rules(&self) -> impl Iterator<Item = &str> {
        self.transitions.iter().filter_map(|t| t.guard.as_ref().map(|g| g.rule.as_str()))
    }
}

// ---- raw TOML form --------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDefinition {
    pub name: Spanned<String>,
    pub subject: Spanned<SubjectKind>,
    #[serde(default)]
    pub description: String,
    pub initial: Spanned<String>,
    #[serde(default)]
    pub initial_effects: Vec<Spanned<String>>,
    pub states: BTreeMap<String, RawState>,
    #[serde(default)]
    pub transitions: Vec<Spanned<RawTransition>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawState {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub open: bool,
    #[serde(default)]
    pub terminal: bool,
    #[serde(default)]
    pub keeps_prepaid_access: bool,
    #[serde(default)]
    pub draws_credit: bool,
    #[serde(default)]
    pub reminded: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTransition {
    /// A state name or a list of them. Kept as a raw value: spans do not survive serde's
    /// untagged enums, and the line number matters more than a neater type.
    pub from: Spanned<toml::Value>,
    pub event: Spanned<String>,
    #[serde(default)]
    pub to: Option<Spanned<String>>,
    #[serde(default)]
    pub guard: Option<Spanned<Guard>>,
    #[serde(default)]
    pub effects: Vec<Spanned<String>>,
    #[serde(default)]
    pub reason_required: bool,
    #[serde(default)]
    pub data: Vec<String>,
}
