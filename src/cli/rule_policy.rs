//! `creditline rules propose|versions|show|approve|reject|rollback`: policy changes as data,
//! maker-checker (see `services::rule_policy`).

use std::process::ExitCode;

use super::rules::RulesCommand;
use crate::app::App;
use crate::config::Config;
use crate::rules::PolicyFiles;
use crate::services::access::{self, AccessError};
use crate::services::rule_policy::{self, PolicyError, PolicyRecord};

pub async fn run(config: Config, cmd: RulesCommand) -> anyhow::Result<ExitCode> {
    let app = App::build(config, true).await?;
    let refused = |e: &dyn std::fmt::Display| {
        eprintln!("error: {e}");
        Ok(ExitCode::from(2))
    };
    let caller = |name: String| {
        let app = app.clone();
        async move { access::caller_named(&app, &name).await }
    };
    let done = match cmd {
        RulesCommand::Propose { dir, note, by } => {
            let files = match PolicyFiles::read(&dir) {
                Ok(f) => f,
                Err(errors) => {
                    return refused(&errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"));
                }
            };
            let who = match caller(by).await {
                Ok(c) => c,
                Err(e @ AccessError::NoSuchToken(_)) => return refused(&e),
                Err(e) => return Err(e.into()),
            };
            rule_policy::propose(&app, &who, files, &note, None).await
        }
        RulesCommand::Rollback { to, by, note } => match caller(by).await {
            Ok(who) => rule_policy::rollback(&app, &who, to, &note).await,
            Err(e @ AccessError::NoSuchToken(_)) => return refused(&e),
            Err(e) => return Err(e.into()),
        },
        RulesCommand::Approve { id, by, note } => match caller(by).await {
            Ok(who) => rule_policy::approve(&app, &who, id, None, note.as_deref()).await,
            Err(e @ AccessError::NoSuchToken(_)) => return refused(&e),
            Err(e) => return Err(e.into()),
        },
        RulesCommand::Shadow { id, by, stop } => match caller(by).await {
            Ok(who) => rule_policy::shadow(&app, &who, id, !stop).await,
            Err(e @ AccessError::NoSuchToken(_)) => return refused(&e),
            Err(e) => return Err(e.into()),
        },
        RulesCommand::Reject { id, by, note } => match caller(by).await {
            Ok(who) => rule_policy::reject(&app, &who, id, &note).await,
            Err(e @ AccessError::NoSuchToken(_)) => return refused(&e),
            Err(e) => return Err(e.into()),
        },
        RulesCommand::Versions { json } => {
            for p in rule_policy::list(&app, 200).await? {
                if json {
                    println!("{}", serde_json::to_string(&p)?);
                } else {
                    println!("{}", line(&p));
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        RulesCommand::History { rule, source } => {
            let versions = rule_policy::rule_history(&app, &rule).await?;
            if let Some(prefix) = source {
                let found: Vec<_> = versions.iter().filter(|(v, _, _)| v.starts_with(prefix.as_str())).collect();
                return match found.as_slice() {
                    [(_, _, text)] => {
                        print!("{text}");
                        Ok(ExitCode::SUCCESS)
                    }
                    [] => refused(&format!("no version of {rule} starts with {prefix:?}")),
                    _ => refused(&format!("{prefix:?} names more than one version of {rule}")),
                };
            }
            if versions.is_empty() {
                return refused(&format!("no version of a rule named {rule:?} is kept"));
            }
            for (version, seen, _) in &versions {
                println!("{version} first seen {}", seen.format("%Y-%m-%d %H:%M"));
            }
            return Ok(ExitCode::SUCCESS);
        }
        RulesCommand::Show { id } => {
            let Some(view) = rule_policy::view(&app, id).await? else {
                return refused(&format!("no policy version {id}"));
            };
            println!("{}", line(&view.policy));
            println!("note: {}", view.policy.note);
            for (rule, version) in &view.rules {
                println!("  {rule} {}", &version[..12]);
            }
            match &view.in_force {
                Some(h) if *h == view.policy.hash => println!("this is the version in force"),
                Some(h) => println!("changes against the version in force ({}):", &h[..12]),
                None => println!("no version is in force in the database yet; the whole policy:"),
            }
            for d in &view.diff {
                print!("{}", d.unified);
            }
            let report = rule_policy::shadow_report(&app, id, 50).await?;
            println!("shadow run: {}", if view.policy.shadow { "on" } else { "off" });
            let counts = |m: &std::collections::BTreeMap<String, i64>| {
                m.iter().map(|(o, n)| format!("{o} {n}")).collect::<Vec<_>>().join(", ")
            };
            for r in &report.rules {
                println!(
                    "  {}: {} decisions, {} differ (live: {}; shadow: {})",
                    r.rule,
                    r.decisions,
                    r.diverged,
                    counts(&r.live),
                    counts(&r.shadow)
                );
            }
            for c in &report.changes {
                println!(
                    "  changed {} {}: {} {} -> {} {}",
                    c.live_decision_id, c.rule, c.live_outcome, c.live_output, c.shadow_outcome, c.shadow_output
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        RulesCommand::Analytics { since, json } => {
            let since = match since.and_then(|d| d.and_hms_opt(0, 0, 0)) {
                Some(t) => t.and_utc(),
                None => app.workflow.clock().now() - chrono::Duration::days(365),
            };
            let found = crate::services::rule_analytics::analytics(&app, since).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&found)?);
                return Ok(ExitCode::SUCCESS);
            }
            for v in &found.versions {
                let total: i64 = v.by_month.values().flat_map(|m| m.values()).sum();
                println!(
                    "{} {}: {total} decisions since {}",
                    v.rule,
                    &v.version[..12.min(v.version.len())],
                    found.since.date_naive()
                );
                for (month, outcomes) in &v.by_month {
                    let o: Vec<String> = outcomes.iter().map(|(k, n)| format!("{k} {n}")).collect();
                    println!("  {month}: {}", o.join(", "));
                }
                if let Some(a) = &v.agreement {
                    println!(
                        "  reviewers: {} approved as suggested, {} at another limit, {} declined despite an offer, \
                         {} declined as suggested, {} approved without an offer, {} undecided",
                        a.approved_as_suggested,
                        a.approved_otherwise,
                        a.declined_despite_offer,
                        a.declined_as_suggested,
                        a.approved_without_offer,
                        a.undecided
                    );
                }
                for o in &v.overrides {
                    println!(
                        "  override: {} -> {} ({})",
                        o.suggested_cents
                            .map(|c| crate::domain::Money::from_cents(c).to_string())
                            .unwrap_or("none".into()),
                        crate::domain::Money::from_cents(o.approved_cents),
                        o.reason.as_deref().unwrap_or("no reason given")
                    );
                }
                if let Some(r) = &v.repayment {
                    println!(
                        "  repayment: {} lines, {} bills: {} on time, {} late, {} unpaid ({})",
                        r.lines,
                        r.bills,
                        r.on_time,
                        r.late,
                        r.unpaid,
                        crate::domain::Money::from_cents(r.unpaid_cents)
                    );
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        _ => anyhow::bail!("not a policy command"),
    };
    match done {
        Ok(p) => {
            println!("{}", line(&p));
            Ok(ExitCode::SUCCESS)
        }
        Err(PolicyError::Store(f)) => Err(f.into()),
        Err(e) => refused(&e),
    }
}

fn line(p: &PolicyRecord) -> String {
    let decided = match (&p.decided_by, p.decided_at) {
        (Some(by), Some(at)) => format!(", decided by {by} {}", at.format("%Y-%m-%d %H:%M")),
        _ => String::new(),
    };
    format!(
        "{} {} {} proposed by {} {}{decided}",
        p.id,
        p.state,
        &p.hash[..12],
        p.proposed_by,
        p.proposed_at.format("%Y-%m-%d %H:%M")
    )
}
