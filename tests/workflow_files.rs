//! Validation of workflow files: one test per kind of error, each checking that the message
//! names the file, the line and the problem; plus the shipped workflows and their diagrams.

mod common;

use std::collections::BTreeMap;

use creditline::workflow::{Catalog, EngineError, Outcomes, Problem, Workflows, mermaid, parse_definition, step};

fn catalog() -> Catalog {
    Catalog {
        rules: ["applicant_type".to_string()].into(),
        templates: ["hello".to_string(), "bye".to_string()].into(),
        ..Catalog::default()
    }
}

const GOOD: &str = r#"
name = "demo"
subject = "application"
initial = "start"
initial_effects = ["email:hello"]

[states.start]
[states.middle]
[states.done]
terminal = true

[[transitions]]
from = "start"
event = "go"
guard = { rule = "applicant_type", outcomes = ["enterprise"] }
to = "middle"
effects = ["task:application_review"]

[[transitions]]
from = "middle"
event = "finish"
to = "done"
effects = ["email:bye"]
"#;

/// Parses `source` as `workflows/demo.toml` and returns the single error it must produce.
fn only_error(source: &str) -> (usize, Problem, String) {
    let errors = parse_definition("workflows/demo.toml", "demo", source, &catalog()).expect_err("must be invalid");
    assert_eq!(errors.len(), 1, "expected one error, got: {errors:#?}");
    let e = &errors[0];
    let text = e.to_string();
    assert!(text.starts_with(&format!("workflows/demo.toml:{}: ", e.line)), "{text}");
    (e.line, e.problem.clone(), text)
}

fn line_of(source: &str, needle: &str) -> usize {
    source.lines().position(|l| l.contains(needle)).expect("needle in source") + 1
}

#[test]
fn the_good_example_is_valid() {
    let def = parse_definition("workflows/demo.toml", "demo", GOOD, &catalog()).unwrap();
    assert_eq!(def.transitions.len(), 2);
    assert_eq!(def.transitions[0].line, line_of(GOOD, "[[transitions]]"));
}

#[test]
fn unknown_state() {
    let src = GOOD.replace("to = \"done\"", "to = \"finished\"");
    let (line, problem, text) = only_error(&src);
    assert_eq!(problem, Problem::UnknownState("finished".into()));
    assert_eq!(line, line_of(&src, "to = \"finished\""));
    assert!(text.contains("unknown state \"finished\""), "{text}");
}

#[test]
fn unreachable_state() {
    let src = format!("{GOOD}\n[states.orphan]\nterminal = true\n");
    let (line, problem, text) = only_error(&src);
    assert_eq!(problem, Problem::UnreachableState("orphan".into()));
    assert_eq!(line, line_of(&src, "[states.orphan]"));
    assert!(text.contains("unreachable state \"orphan\""), "{text}");
}

#[test]
fn non_terminal_state_without_a_way_out() {
    let src = GOOD.replace("[states.done]\nterminal = true", "[states.done]");
    let (line, problem, text) = only_error(&src);
    assert_eq!(problem, Problem::NoWayOut("done".into()));
    assert_eq!(line, line_of(&src, "[states.done]"));
    assert!(text.contains("not terminal but has no transition out"), "{text}");
}

#[test]
fn duplicate_transition() {
    let src = format!("{GOOD}\n[[transitions]]\nfrom = \"middle\"\nevent = \"finish\"\nto = \"start\"\n");
    let (line, problem, text) = only_error(&src);
    let first = line_of(&src, "event = \"finish\"") - 2;
    assert_eq!(
        problem,
        Problem::DuplicateTransition { from: "middle".into(), event: "finish".into(), first_line: first }
    );
    assert_eq!(line, src.lines().count() - 3);
    assert!(text.contains("duplicate transition"), "{text}");
}

#[test]
fn overlapping_guards_are_duplicates_but_disjoint_ones_are_not() {
    let extra = "\n[[transitions]]\nfrom = \"start\"\nevent = \"go\"\nguard = { rule = \"applicant_type\", outcomes = [\"OUT\"] }\nto = \"done\"\n";
    let disjoint = format!("{GOOD}{}", extra.replace("OUT", "unknown"));
    assert!(parse_definition("workflows/demo.toml", "demo", &disjoint, &catalog()).is_ok());
    let overlapping = format!("{GOOD}{}", extra.replace("OUT", "enterprise"));
    let (_, problem, _) = only_error(&overlapping);
    assert!(matches!(problem, Problem::DuplicateTransition { .. }));
}

#[test]
fn guard_naming_a_missing_rule() {
    let src = GOOD.replace("rule = \"applicant_type\"", "rule = \"no_such_rule\"");
    let (line, problem, text) = only_error(&src);
    assert_eq!(problem, Problem::UnknownRule("no_such_rule".into()));
    assert_eq!(line, line_of(&src, "no_such_rule"));
    assert!(text.contains("rules/no_such_rule.rhai does not exist"), "{text}");
}

#[test]
fn effect_naming_a_missing_template() {
    let src = GOOD.replace("email:bye", "email:farewell");
    let (line, problem, text) = only_error(&src);
    assert_eq!(problem, Problem::UnknownTemplate("farewell".into()));
    assert_eq!(line, line_of(&src, "email:farewell"));
    assert!(text.contains("templates/email/farewell.j2 does not exist"), "{text}");
}

#[test]
fn effect_naming_an_unknown_task_kind_or_malformed() {
    let src = GOOD.replace("task:application_review", "task:coffee");
    let (line, problem, _) = only_error(&src);
    assert_eq!(problem, Problem::UnknownTaskKind("coffee".into()));
    assert_eq!(line, line_of(&src, "task:coffee"));
    let src = GOOD.replace("task:application_review", "sms:hello");
    let (_, problem, _) = only_error(&src);
    assert_eq!(problem, Problem::MalformedEffect("sms:hello".into()));
}

#[test]
fn syntax_errors_and_unknown_keys_name_the_line() {
    let src = GOOD.replace("event = \"finish\"", "event = \"finish\"\ncolour = \"blue\"");
    let (line, problem, text) = only_error(&src);
    assert!(matches!(problem, Problem::Syntax(_)), "{problem:?}");
    assert!(text.contains("colour"), "{text}");
    assert!(line >= line_of(&src, "[[transitions]]"), "line {line}");
    let (line, _, _) = only_error(&GOOD.replace("[states.middle]", "[states.middle"));
    assert_eq!(line, line_of(GOOD, "[states.middle]"));
}

#[test]
fn name_must_match_the_file() {
    let (_, problem, _) = only_error(&GOOD.replace("name = \"demo\"", "name = \"other\""));
    assert_eq!(problem, Problem::NameMismatch { name: "other".into(), expected: "demo".into() });
}

#[test]
fn terminal_states_have_no_exits() {
    let src = format!("{GOOD}\n[[transitions]]\nfrom = \"done\"\nevent = \"reopen\"\nto = \"start\"\n");
    let (line, problem, _) = only_error(&src);
    assert_eq!(problem, Problem::TerminalWithExit("done".into()));
    assert_eq!(line, line_of(&src, "[states.done]"));
}

#[test]
fn an_open_state_cannot_also_be_ended() {
    let src = GOOD.replace("[states.done]\n", "[states.done]\nopen = true\n");
    assert_ne!(src, GOOD, "the fixture has a [states.done] table");
    let (line, problem, _) = only_error(&src);
    assert_eq!(problem, Problem::OpenAndClosed("done".into()));
    assert_eq!(line, line_of(&src, "[states.done]"));
}

#[test]
fn only_a_state_under_way_is_reminded_and_only_a_live_one_draws_credit() {
    let src = GOOD.replace("[states.done]\n", "[states.done]\nreminded = true\n");
    let (_, problem, _) = only_error(&src);
    assert_eq!(problem, Problem::OpenAndClosed("done".into()));
    let src = GOOD.replace("[states.done]\n", "[states.done]\ndraws_credit = true\n");
    let (line, problem, text) = only_error(&src);
    assert_eq!(problem, Problem::DrawsWhenEnded("done".into()));
    assert_eq!(line, line_of(&src, "[states.done]"));
    assert!(text.contains("draws credit but is terminal"), "{text}");
}

/// The states Rust acts on by name (`workflow::names`) must be in the files: a folder that
/// renamed one is refused by `workflows check` and at start-up, naming what is missing.
#[test]
fn a_state_the_service_acts_on_cannot_be_renamed_away() {
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join("workflows");
    common::copy_dir(&common::repo().join("workflows"), &workflows);
    let path = workflows.join("credit_line.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    // `grace` becomes `overdue` everywhere it is a state (not the rule's outcome `grace`).
    let renamed: String = text
        .lines()
        .map(|l| {
            if l.starts_with("[states.") || l.starts_with("from") || l.starts_with("to ") {
                l.replace("grace", "overdue")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(renamed.contains("[states.overdue]") && !renamed.contains("[states.grace]"));
    std::fs::write(&path, renamed).unwrap();
    let run = |args: &[&str]| {
        let mut cmd = common::creditline(dir.path());
        cmd.env("CREDITLINE_WORKFLOWS_DIR", &workflows).args(args);
        cmd.output().unwrap()
    };
    for args in [&["workflows", "check"][..], &["serve", "--listen", "127.0.0.1:0"]] {
        let o = run(args);
        assert!(!o.status.success(), "{args:?} must fail: {}", common::stdout(&o));
        let err = common::stderr(&o);
        assert!(err.contains("credit_line.grace") && !err.contains("credit_line.active"), "{args:?}: {err}");
    }
}

#[test]
fn loading_a_folder_reports_every_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("demo.toml"), GOOD.replace("email:bye", "email:farewell")).unwrap();
    std::fs::write(dir.path().join("broken.toml"), "name = ").unwrap();
    let err = Workflows::load(dir.path(), &catalog()).unwrap_err().to_string();
    assert!(err.contains("broken.toml:1:"), "{err}");
    assert!(err.contains("demo.toml:") && err.contains("farewell"), "{err}");
}

#[test]
fn the_shipped_workflows_are_valid_and_complete() {
    let wf = common::workflows();
    let names: Vec<&str> = wf.names().collect();
    assert_eq!(names, ["aws_login", "credit_line", "credit_line_application", "invoice_request", "limit_increase"]);
    let line = wf.get("credit_line").unwrap();
    for s in ["active", "grace", "paused", "reduced", "closed"] {
        assert!(line.state(s).is_some(), "credit_line lacks {s}");
    }
    // Policy: a paused or closed line draws nothing ("pause ... the next month's credit
    // line"); in grace the billing-cycle gate decides each debit.
    assert_eq!(line.states_where(|s| s.draws_credit), ["active", "grace", "reduced"]);
    assert!(creditline::workflow::names::missing(&wf).is_empty(), "{:?}", creditline::workflow::names::missing(&wf));
    let app = wf.get("credit_line_application").unwrap();
    for s in ["declined", "deferred"] {
        assert!(app.state(s).unwrap().keeps_prepaid_access, "{s} keeps prepaid access");
    }
    // The states intake reads an applicant's messages into: every wait before a decision, the
    // four-eyes second approval included; not the wait for a guarantee (a person reads those).
    let open: Vec<&str> = app.states.values().filter(|s| s.open).map(|s| s.name.as_str()).collect();
    assert_eq!(
        open,
        [
            "awaiting_account_confirmation",
            "awaiting_domain_confirmation",
            "awaiting_materials",
            "awaiting_second_approval",
            "aws_history_check",
            "business_verification",
            "pending_review",
            "received"
        ]
    );
    // The waits the reminder scan reminds and times out; the guarantee's wait has its own.
    assert_eq!(
        app.states_where(|s| s.reminded),
        ["awaiting_account_confirmation", "awaiting_domain_confirmation", "awaiting_materials"]
    );
    // What a new message or a re-review may pick up again.
    assert_eq!(app.states_where(|s| s.reopenable()), ["declined", "deferred"]);
    // Declines and deferrals always carry a reason.
    for t in app.transitions.iter().filter(|t| matches!(t.to.as_deref(), Some("declined" | "deferred"))) {
        assert!(t.reason_required, "transition at line {} needs a reason", t.line);
    }
    // Approval is never automatic: only a reviewer's `approve` leads there, from review or
    // (four-eyes) from a first approval, which only a reviewer's `first_approval` reaches.
    let into = |state: &str| -> Vec<(String, String)> {
        app.transitions
            .iter()
            .filter(|t| t.to.as_deref() == Some(state))
            .flat_map(|t| t.from.iter().map(move |f| (f.clone(), t.event.clone())))
            .collect()
    };
    let approve = |from: &str, event: &str| (from.to_string(), event.to_string());
    assert_eq!(
        into("approved"),
        [approve("pending_review", "approve"), approve("awaiting_second_approval", "approve")]
    );
    assert_eq!(into("awaiting_second_approval"), [approve("pending_review", "first_approval")]);
    assert!(wf.get("limit_increase").unwrap().state("awaiting_deposit").is_some());
}

#[test]
fn the_engine_walks_the_application_workflow() {
    let wf = common::workflows();
    let def = wf.get("credit_line_application").unwrap();
    let o =
        |pairs: &[(&str, &str)]| -> Outcomes { pairs.iter().map(|(r, o)| (r.to_string(), o.to_string())).collect() };
    let s = step(def, "received", "materials_complete", &o(&[("applicant_type", "enterprise")]), None).unwrap();
    assert_eq!(s.to, "awaiting_domain_confirmation");
    assert_eq!(s.effects.iter().map(|e| e.to_string()).collect::<Vec<_>>(), ["email:domain_confirmation_request"]);
    let s = step(def, "business_verification", "verified", &o(&[("business_verification", "fail")]), None).unwrap();
    assert_eq!(s.to, "awaiting_materials");
    // A rule that failed closed never approves.
    let err = step(def, "business_verification", "verified", &o(&[("business_verification", "bogus")]), None);
    assert!(matches!(err, Err(EngineError::GuardRejected { .. })));
    let s = step(def, "awaiting_materials", "reminder_due", &BTreeMap::new(), None).unwrap();
    assert_eq!((s.from.as_str(), s.to.as_str()), ("awaiting_materials", "awaiting_materials"));
    let err = step(def, "nowhere", "x", &BTreeMap::new(), None).unwrap_err();
    assert!(matches!(err, EngineError::UnknownState { .. }));
}

#[test]
fn graphs_are_mermaid_state_diagrams() {
    let wf = common::workflows();
    let g = mermaid(wf.get("credit_line_application").unwrap());
    assert!(g.starts_with("stateDiagram-v2\n    [*] --> received\n"), "{g}");
    assert!(g.contains("pending_review --> approved: approve"), "{g}");
    assert!(g.contains("    approved --> [*]"), "{g}");
}

/// An email effect whose template uses a variable neither every payload nor the declared data
/// gives is an error naming the transition and the variable; declaring the key (or a required
/// reason, for `message`) satisfies it.
#[test]
fn an_email_needing_a_variable_the_transition_does_not_declare_is_an_error() {
    let mut cat = catalog();
    cat.template_needs.insert("bye".into(), ["name".to_string(), "limit".to_string()].into());
    cat.template_needs.insert("hello".into(), ["reference".to_string(), "account_email".to_string()].into());
    let errors = parse_definition("workflows/demo.toml", "demo", GOOD, &cat).expect_err("limit is not given");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let text = errors[0].to_string();
    assert!(text.starts_with(&format!("workflows/demo.toml:{}:", line_of(GOOD, "event = \"finish\"") - 2)), "{text}");
    assert!(text.contains("event \"finish\", from \"middle\"") && text.contains("email:bye"), "{text}");
    assert!(text.contains("`limit`"), "{text}");
    let declared =
        GOOD.replace("effects = [\"email:bye\"]", "data = [\"monthly_limit_cents\"]\neffects = [\"email:bye\"]");
    parse_definition("workflows/demo.toml", "demo", &declared, &cat).expect("declared");
    cat.template_needs.insert("bye".into(), ["message".to_string()].into());
    let reasoned = GOOD.replace("effects = [\"email:bye\"]", "reason_required = true\neffects = [\"email:bye\"]");
    parse_definition("workflows/demo.toml", "demo", &reasoned, &cat).expect("a required reason is the message");
    // The creation step's emails get no data at all.
    cat.template_needs.insert("hello".into(), ["limit".to_string()].into());
    let errors = parse_definition("workflows/demo.toml", "demo", &reasoned, &cat).expect_err("no limit at creation");
    let text = errors[0].to_string();
    assert!(text.contains("event \"created\"") && text.contains("email:hello") && text.contains("`limit`"), "{text}");
}

/// `creditline workflows check` (and start-up) fails when a transition's declared data no
/// longer covers its email: here the gating step that pauses a line stops declaring `period`.
#[test]
fn workflows_check_names_the_transition_and_the_variable_a_payload_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join("workflows");
    common::copy_dir(&common::repo().join("workflows"), &workflows);
    let path = workflows.join("credit_line.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let needle = "data = [\"period\"]\neffects = [\"email:line_paused\"]";
    assert!(text.contains(needle), "the shipped file declares it");
    std::fs::write(&path, text.replace(needle, "effects = [\"email:line_paused\"]")).unwrap();
    let run = |args: &[&str]| {
        let mut cmd = common::creditline(dir.path());
        cmd.env("CREDITLINE_WORKFLOWS_DIR", &workflows).args(args);
        cmd.output().unwrap()
    };
    let o = run(&["workflows", "check"]);
    let err = common::stderr(&o);
    assert!(!o.status.success(), "{}", common::stdout(&o));
    assert!(err.contains("credit_line.toml:"), "{err}");
    assert!(err.contains("event \"gated\"") && err.contains("email:line_paused") && err.contains("`period`"), "{err}");
    assert_eq!(err.lines().count(), 1, "only that transition: {err}");
    let o = run(&["serve", "--listen", "127.0.0.1:0"]);
    assert!(!o.status.success(), "serve must refuse to start");
    assert!(common::stderr(&o).contains("`period`"), "{}", common::stderr(&o));

    let o = common::run(dir.path(), &["workflows", "check"]);
    assert!(o.status.success(), "the shipped files pass: {}", common::stderr(&o));
}
