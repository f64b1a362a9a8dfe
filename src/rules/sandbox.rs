//! The Rhai engine the rules run in: no file or network access (Rhai has none unless a host
//! registers it, and module loading is compiled out), no `eval`, strict variables, and hard
//! limits so a runaway script is stopped instead of stalling a worker.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use rhai::{Dynamic, Engine, EvalAltResult};

use super::lists::HostLists;
use crate::domain::{Domain, Money};

/// Limits per evaluation. A real rule needs a few thousand operations; an endless loop hits
/// the operation limit within milliseconds.
pub const MAX_OPERATIONS: u64 = 50_000;
pub const MAX_CALL_LEVELS: usize = 16;
pub const MAX_EXPR_DEPTH: usize = 64;
pub const MAX_FN_EXPR_DEPTH: usize = 32;
pub const MAX_STRING_SIZE: usize = 16 * 1024;
pub const MAX_ARRAY_SIZE: usize = 1_000;
pub const MAX_MAP_SIZE: usize = 500;

pub fn engine(lists: Arc<HostLists>) -> Engine {
    let mut engine = Engine::new();
    engine
        .set_max_operations(MAX_OPERATIONS)
        .set_max_call_levels(MAX_CALL_LEVELS)
        .set_max_expr_depths(MAX_EXPR_DEPTH, MAX_FN_EXPR_DEPTH)
        .set_max_string_size(MAX_STRING_SIZE)
        .set_max_array_size(MAX_ARRAY_SIZE)
        .set_max_map_size(MAX_MAP_SIZE)
        .set_strict_variables(true);
    engine.disable_symbol("eval");
    // Scripts have no business printing; keep stdout clean for the CLI's JSON.
    engine.on_print(|_| {});
    engine.on_debug(|_, _, _| {});
    register_helpers(&mut engine, lists);
    engine
}

fn err(msg: String) -> Box<EvalAltResult> {
    msg.into()
}

fn date(s: &str) -> Result<NaiveDate, Box<EvalAltResult>> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| err(format!("not a date (YYYY-MM-DD): {s:?}")))
}

fn host_of(s: &str) -> Option<Domain> {
    Domain::from_url(s).ok()
}

/// The domain of an address, or the text itself when it is a host or URL.
fn domain_part(s: &str) -> &str {
    s.trim().rsplit_once('@').map(|(_, d)| d).unwrap_or(s)
}

fn register_helpers(engine: &mut Engine, lists: Arc<HostLists>) {
    // Money: cents in, cents out; `()` when the text is not an amount.
    engine.register_fn("parse_money", |s: &str| -> Dynamic {
        Money::parse(s).map(|m| Dynamic::from_int(m.cents())).unwrap_or(Dynamic::UNIT)
    });
    engine.register_fn("format_money", |cents: i64| Money::from_cents(cents).to_string());

    engine.register_fn("days_between", |a: &str, b: &str| -> Result<i64, Box<EvalAltResult>> {
        Ok((date(b)? - date(a)?).num_days())
    });
    // Whole calendar months from a to b (negative when b is earlier).
    engine.register_fn("months_between", |a: &str, b: &str| -> Result<i64, Box<EvalAltResult>> {
        let (a, b) = (date(a)?, date(b)?);
        let mut months = i64::from(b.year() - a.year()) * 12 + i64::from(b.month()) - i64::from(a.month());
        if months > 0 && b.day() < a.day() {
            months -= 1;
        } else if months < 0 && b.day() > a.day() {
            months += 1;
        }
        Ok(months)
    });

    engine.register_fn("registrable_domain", |s: &str| -> String {
        host_of(domain_part(s)).map(|d| d.registrable().to_string()).unwrap_or_default()
    });
    engine.register_fn("host_of", |s: &str| -> String { host_of(s).map(|d| d.to_string()).unwrap_or_default() });

    let l = lists.clone();
    engine.register_fn("is_free_mail_domain", move |s: &str| -> bool {
        host_of(domain_part(s)).is_some_and(|d| l.free_mail.matches(&d))
    });
    let l = lists.clone();
    engine.register_fn("is_generic_platform_host", move |s: &str| -> bool {
        host_of(s).is_some_and(|d| l.generic_platforms.matches(&d))
    });
    let l = lists;
    engine.register_fn("is_tool_directory_host", move |s: &str| -> bool {
        host_of(s).is_some_and(|d| l.tool_directories.matches(&d))
    });
}
