//! Turns the text of a workflow file into a [`Definition`], or into every problem it has,
//! each naming the file and the line. Pure: what exists in `rules/` and `templates/` comes
//! in as a [`Catalog`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use toml::Spanned;

use super::definition::{Definition, Effect, RawDefinition, RawTransition, State, SubjectKind, TaskKind, Transition};
use crate::email::context::{ALWAYS, variable_for};

/// Names a workflow may refer to: rule scripts and email templates.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub rules: BTreeSet<String>,
    pub templates: BTreeSet<String>,
    /// For each template, the variables it cannot render without (see
    /// `email::templates::required_variables`). A template absent here is not checked.
    pub template_needs: BTreeMap<String, BTreeSet<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowError {
    pub file: String,
    pub line: usize,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Syntax(String),
    NameMismatch {
        name: String,
        expected: String,
    },
    DuplicateWorkflow(String),
    UnknownState(String),
    UnreachableState(String),
    NoWayOut(String),
    TerminalWithExit(String),
    /// `open` beside `terminal` or `keeps_prepaid_access`: under way and ended at once.
    OpenAndClosed(String),
    /// `draws_credit` on a terminal state: nothing can draw on a line that has ended.
    DrawsWhenEnded(String),
    DuplicateTransition {
        from: String,
        event: String,
        first_line: usize,
    },
    UnknownRule(String),
    UnknownTemplate(String),
    UnknownTaskKind(String),
    MalformedEffect(String),
    DuplicateEffect(String),
    EmptyGuard(String),
    NoStates,
    /// An `email:T` effect whose template uses a variable the transition's data does not give.
    MissingVariable {
        event: String,
        from: String,
        template: String,
        variable: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Syntax(m) => write!(f, "invalid workflow file: {m}"),
            Problem::NameMismatch { name, expected } => {
                write!(f, "workflow name {name:?} does not match its file name {expected:?}")
            }
            Problem::DuplicateWorkflow(n) => write!(f, "workflow {n:?} is defined twice"),
            Problem::UnknownState(s) => write!(f, "unknown state {s:?} (not declared under [states])"),
            Problem::UnreachableState(s) => {
                write!(f, "unreachable state {s:?}: no transition leads to it from the initial state")
            }
            Problem::NoWayOut(s) => write!(f, "state {s:?} is not terminal but has no transition out of it"),
            Problem::TerminalWithExit(s) => write!(f, "terminal state {s:?} has a transition out of it"),
            Problem::OpenAndClosed(s) => {
                write!(f, "state {s:?} is open or reminded but also terminal or keeps_prepaid_access (ended)")
            }
            Problem::DrawsWhenEnded(s) => write!(f, "state {s:?} draws credit but is terminal"),
            Problem::DuplicateTransition { from, event, first_line } => write!(
                f,
                "duplicate transition: event {event:?} from state {from:?} is already handled at line {first_line}"
            ),
            Problem::UnknownRule(r) => write!(f, "guard names rule {r:?}, but rules/{r}.rhai does not exist"),
            Problem::UnknownTemplate(t) => {
                write!(f, "effect names email template {t:?}, but templates/email/{t}.j2 does not exist")
            }
            Problem::UnknownTaskKind(k) => {
                write!(f, "effect names task kind {k:?}; known kinds: {}", TaskKind::ALL.map(|k| k.as_str()).join(", "))
            }
            Problem::MalformedEffect(e) => write!(f, "effect {e:?} is neither \"email:TEMPLATE\" nor \"task:KIND\""),
            Problem::DuplicateEffect(e) => write!(f, "effect {e:?} is listed twice in one transition"),
            Problem::EmptyGuard(r) => write!(f, "guard on rule {r:?} lists no outcomes"),
            Problem::NoStates => write!(f, "workflow declares no states"),
            Problem::MissingVariable { event, from, template, variable } => write!(
                f,
                "transition (event {event:?}, from {from:?}) sends email:{template}, which uses `{variable}`, \
                 but the transition's data does not supply it: declare the payload key in `data = [...]` \
                 and make the code that fires it pass it"
            ),
        }
    }
}

impl fmt::Display for WorkflowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.problem)
    }
}

impl std::error::Error for WorkflowError {}

/// 1-based line of a byte offset.
fn line_at(source: &str, offset: usize) -> usize {
    source.as_bytes()[..offset.min(source.len())].iter().filter(|b| **b == b'\n').count() + 1
}

/// The line declaring `[states.NAME]`; state tables are map keys, which carry no span.
fn state_line(source: &str, name: &str) -> usize {
    let header = format!("[states.{name}]");
    source.lines().position(|l| l.trim() == header).map(|i| i + 1).unwrap_or(1)
}

struct Checker<'a> {
    file: &'a str,
    source: &'a str,
    errors: Vec<WorkflowError>,
}

impl Checker<'_> {
    fn at(&mut self, line: usize, problem: Problem) {
        self.errors.push(WorkflowError { file: self.file.to_string(), line, problem });
    }

    fn at_span<T>(&mut self, s: &Spanned<T>, problem: Problem) {
        let line = line_at(self.source, s.span().start);
        self.at(line, problem);
    }

    fn effects(&mut self, raw: &[Spanned<String>], catalog: &Catalog) -> Vec<Effect> {
        let mut out: Vec<Effect> = Vec::new();
        for item in raw {
            let effect = match item.get_ref().split_once(':') {
                Some(("email", name)) => {
                    if !catalog.templates.contains(name) {
                        self.at_span(item, Problem::UnknownTemplate(name.to_string()));
                    }
                    Effect::Email(name.to_string())
                }
                Some(("task", kind)) => match kind.parse::<TaskKind>() {
                    Ok(k) => Effect::Task(k),
                    Err(()) => {
                        self.at_span(item, Problem::UnknownTaskKind(kind.to_string()));
                        continue;
                    }
                },
                _ => {
                    self.at_span(item, Problem::MalformedEffect(item.get_ref().clone()));
                    continue;
                }
            };
            if out.contains(&effect) {
                self.at_span(item, Problem::DuplicateEffect(effect.to_string()));
            } else {
                out.push(effect);
            }
        }
        out
    }

    fn state_ref(&mut self, states: &BTreeMap<String, State>, name: &Spanned<String>) {
        if !states.contains_key(name.get_ref()) {
            self.at_span(name, Problem::UnknownState(name.get_ref().clone()));
        }
    }

    fn source_states(&mut self, raw: &Spanned<toml::Value>) -> Vec<String> {
        let line = line_at(self.source, raw.span().start);
        let bad = |v: &toml::Value| Problem::Syntax(format!("`from` must be a state name or a list of them, not {v}"));
        match raw.get_ref() {
            toml::Value::String(s) => vec![s.clone()],
            toml::Value::Array(items) => {
                let mut out = Vec::new();
                for v in items {
                    match v.as_str() {
                        Some(s) => out.push(s.to_string()),
                        None => self.at(line, bad(v)),
                    }
                }
                out
            }
            other => {
                self.at(line, bad(other));
                Vec::new()
            }
        }
    }

    fn transition(
        &mut self,
        raw: &Spanned<RawTransition>,
        states: &BTreeMap<String, State>,
        catalog: &Catalog,
        subject: SubjectKind,
    ) -> Transition {
        let line = line_at(self.source, raw.span().start);
        let t = raw.get_ref();
        let from = self.source_states(&t.from);
        for f in &from {
            if !states.contains_key(f) {
                let l = line_at(self.source, t.from.span().start);
                self.at(l, Problem::UnknownState(f.clone()));
            }
        }
        if let Some(to) = &t.to {
            self.state_ref(states, to);
        }
        let guard = t.guard.as_ref().map(|g| {
            let inner = g.get_ref();
            if !catalog.rules.contains(&inner.rule) {
                self.at_span(g, Problem::UnknownRule(inner.rule.clone()));
            }
            if inner.outcomes.is_empty() {
                self.at_span(g, Problem::EmptyGuard(inner.rule.clone()));
            }
            inner.clone()
        });
        let effects = self.effects(&t.effects, catalog);
        let transition = Transition {
            from,
            event: t.event.get_ref().clone(),
            to: t.to.as_ref().map(|s| s.get_ref().clone()),
            guard,
            effects,
            reason_required: t.reason_required,
            data: t.data.clone(),
            line,
        };
        self.email_data(&transition, catalog, subject);
        transition
    }

    /// Every variable each email of `t` uses must come from what every payload has, the
    /// declared data, or (`message`) a required reason.
    fn email_data(&mut self, t: &Transition, catalog: &Catalog, subject: SubjectKind) {
        let mut given: BTreeSet<&str> = ALWAYS.iter().copied().collect();
        given.extend(t.data.iter().filter_map(|k| variable_for(k)));
        // The delivery worker looks an application's (or an invoice request's) reference up
        // for every row it sends.
        if matches!(subject, SubjectKind::Application | SubjectKind::InvoiceRequest) {
            given.insert("reference");
        }
        if t.reason_required {
            given.insert("message");
        }
        for effect in &t.effects {
            let Effect::Email(template) = effect else { continue };
            let Some(needs) = catalog.template_needs.get(template) else { continue };
            for variable in needs.iter().filter(|v| !given.contains(v.as_str())) {
                let problem = Problem::MissingVariable {
                    event: t.event.clone(),
                    from: t.from.join("|"),
                    template: template.clone(),
                    variable: variable.clone(),
                };
                self.at(t.line, problem);
            }
        }
    }

    /// Two transitions for the same state and event where the second can never be taken.
    fn duplicates(&mut self, transitions: &[Transition]) {
        for (j, b) in transitions.iter().enumerate() {
            for a in &transitions[..j] {
                if a.event != b.event {
                    continue;
                }
                let Some(shared) = b.from.iter().find(|s| a.from.contains(s)) else { continue };
                let clash = match (&a.guard, &b.guard) {
                    (None, _) => true,
                    (Some(_), None) => false,
                    (Some(ga), Some(gb)) => ga.rule == gb.rule && gb.outcomes.iter().any(|o| ga.admits(o)),
                };
                if clash {
                    self.at(
                        b.line,
                        Problem::DuplicateTransition {
                            from: shared.clone(),
                            event: b.event.clone(),
                            first_line: a.line,
                        },
                    );
                    break;
                }
            }
        }
    }

    fn graph(&mut self, def: &Definition) {
        // Reachability from the initial state.
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([def.initial.clone()]);
        while let Some(s) = queue.pop_front() {
            if !seen.insert(s.clone()) {
                continue;
            }
            for t in def.transitions_from(&s) {
                queue.push_back(t.target(&s).to_string());
            }
        }
        for (name, state) in &def.states {
            let line = state_line(self.source, name);
            if !seen.contains(name) {
                self.at(line, Problem::UnreachableState(name.clone()));
            }
            let exits = def.transitions_from(name).any(|t| t.target(name) != name);
            if state.terminal && def.transitions_from(name).next().is_some() {
                self.at(line, Problem::TerminalWithExit(name.clone()));
            } else if !state.terminal && !exits {
                self.at(line, Problem::NoWayOut(name.clone()));
            }
            if (state.open || state.reminded) && !state.in_progress() {
                self.at(line, Problem::OpenAndClosed(name.clone()));
            }
            if state.draws_credit && state.terminal {
                self.at(line, Problem::DrawsWhenEnded(name.clone()));
            }
        }
    }
}

/// Parses and validates one workflow file. `file` is the path to show in errors and
/// `stem` the file name without `.toml`, which must equal the workflow's `name`.
pub fn parse_definition(
    file: &str,
    stem: &str,
    source: &str,
    catalog: &Catalog,
) -> Result<Definition, Vec<WorkflowError>> {
    let mut ck = Checker { file, source, errors: Vec::new() };
    let raw: RawDefinition = match toml::from_str(source) {
        Ok(r) => r,
        Err(e) => {
            let line = e.span().map(|s| line_at(source, s.start)).unwrap_or(1);
            ck.at(line, Problem::Syntax(e.message().to_string()));
            return Err(ck.errors);
        }
    };
    if raw.name.get_ref() != stem {
        ck.at_span(&raw.name, Problem::NameMismatch { name: raw.name.get_ref().clone(), expected: stem.to_string() });
    }
    if raw.states.is_empty() {
        ck.at(1, Problem::NoStates);
        return Err(ck.errors);
    }
    let states: BTreeMap<String, State> = raw
        .states
        .iter()
        .map(|(name, s)| {
            let state = State {
                name: name.clone(),
                description: s.description.clone(),
                open: s.open,
                terminal: s.terminal,
                keeps_prepaid_access: s.keeps_prepaid_access,
                draws_credit: s.draws_credit,
                reminded: s.reminded,
            };
            (name.clone(), state)
        })
        .collect();
    ck.state_ref(&states, &raw.initial);
    let initial_effects = ck.effects(&raw.initial_effects, catalog);
    // The creation step's emails get only what every payload has: no data, no reason.
    let creation = Transition {
        from: vec!["(start)".to_string()],
        event: "created".to_string(),
        to: Some(raw.initial.get_ref().clone()),
        guard: None,
        effects: initial_effects.clone(),
        reason_required: false,
        data: Vec::new(),
        line: raw.initial_effects.first().map_or(1, |e| line_at(source, e.span().start)),
    };
    ck.email_data(&creation, catalog, *raw.subject.get_ref());
    let transitions: Vec<Transition> =
        raw.transitions.iter().map(|t| ck.transition(t, &states, catalog, *raw.subject.get_ref())).collect();
    ck.duplicates(&transitions);
    let def = Definition {
        name: raw.name.get_ref().clone(),
        subject: *raw.subject.get_ref(),
        description: raw.description,
        initial: raw.initial.get_ref().clone(),
        initial_effects,
        states,
        transitions,
    };
    // Graph checks only make sense once every name resolves.
    if ck.errors.iter().all(|e| !matches!(e.problem, Problem::UnknownState(_))) {
        ck.graph(&def);
    }
    if ck.errors.is_empty() { Ok(def) } else { Err(ck.errors) }
}
