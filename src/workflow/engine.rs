//! The workflow engine: a pure function from (definition, current state, event, rule
//! decisions) to the next state and the effects to record. It reads no clock and touches no
//! database; `services::workflow` applies its result in one transaction.

use std::collections::BTreeMap;

use super::definition::{Definition, Effect};

/// Rule outcomes available to guards: rule name -> outcome.
pub type Outcomes = BTreeMap<String, String>;

/// The result of firing an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub from: String,
    pub to: String,
    pub event: String,
    pub effects: Vec<Effect>,
    /// Line of the transition taken, so an event can be traced back to the file.
    pub transition_line: usize,
    /// The data keys the transition declares its firing code supplies.
    pub data: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("workflow {workflow} has no state {state:?}")]
    UnknownState { workflow: String, state: String },
    #[error("event {event:?} is not possible in state {state:?} (possible: {})", possible.join(", "))]
    NotPossible { state: String, event: String, possible: Vec<String> },
    #[error("event {event:?} in state {state:?} needs a decision of rule {}", rules.join(" or "))]
    DecisionMissing { state: String, event: String, rules: Vec<String> },
    #[error("event {event:?} in state {state:?}: no transition admits the outcome(s) {}", outcomes.join(", "))]
    GuardRejected { state: String, event: String, outcomes: Vec<String> },
    #[error("event {event:?} needs a reason")]
    ReasonRequired { event: String },
}

/// Picks the first transition (in file order) for `state` and `event` whose guard, if any,
/// admits the outcome its rule decided.
pub fn step(
    def: &Definition,
    state: &str,
    event: &str,
    outcomes: &Outcomes,
    reason: Option<&str>,
) -> Result<Step, EngineError> {
    if def.state(state).is_none() {
        return Err(EngineError::UnknownState { workflow: def.name.clone(), state: state.to_string() });
    }
    let candidates: Vec<_> = def.transitions_from(state).filter(|t| t.event == event).collect();
    if candidates.is_empty() {
        let mut possible: Vec<String> = def.transitions_from(state).map(|t| t.event.clone()).collect();
        possible.dedup();
        return Err(EngineError::NotPossible { state: state.to_string(), event: event.to_string(), possible });
    }
    let Some(t) = def.transition_for(state, event, outcomes) else {
        let mut rules: Vec<String> =
            candidates.iter().filter_map(|t| t.guard.as_ref().map(|g| g.rule.clone())).collect();
        rules.dedup();
        let decided: Vec<String> = rules.iter().filter_map(|r| outcomes.get(r).map(|o| format!("{r}={o}"))).collect();
        return Err(if decided.is_empty() {
            EngineError::DecisionMissing { state: state.to_string(), event: event.to_string(), rules }
        } else {
            EngineError::GuardRejected { state: state.to_string(), event: event.to_string(), outcomes: decided }
        });
    };
    if t.reason_required && reason.is_none_or(|r| r.trim().is_empty()) {
        return Err(EngineError::ReasonRequired { event: event.to_string() });
    }
    Ok(Step {
        from: state.to_string(),
        to: t.target(state).to_string(),
        event: event.to_string(),
        effects: t.effects.clone(),
        transition_line: t.line,
        data: t.data.clone(),
    })
}
