//! The Rhai engine the rules run in: no file or network access (Rhai has none unless a host
//! registers it, and module loading is compiled out), no `eval`, strict variables, and hard
//! limits so a runaway script is stopped instead of stalling a worker.
//!
//! The operation limit counts script steps, not the time a host helper spends inside one
//! step, so two more limits stand beside it: a wall-clock budget per evaluation (checked
//! between operations) and a cap on the size of every helper's input, which bounds the
//! time one helper call can take.

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// Input caps of the helpers, in bytes. Generous for real values (the longest amount is
/// "USD -92,233,720,368,547,758.07 per month"; a URL over 2 KiB is not a website anyone
/// types), small enough that one call takes microseconds.
pub const MAX_MONEY_TEXT: usize = 64;
pub const MAX_DATE_TEXT: usize = 32;
pub const MAX_ADDRESS_TEXT: usize = 2 * 1024;

/// The code a rule stopped at its time budget carries in its reason.
pub const BUDGET_EXCEEDED: &str = "rule_budget_exceeded";

thread_local! {
    /// When the evaluation running on this thread must stop. An evaluation runs on one thread
    /// from start to end, and the progress callback is shared by every evaluation of the
    /// engine, so the deadline lives with the thread.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Runs `f` (one evaluation) with a wall-clock budget: the progress callback stops the script
/// at its first operation after the budget is spent.
pub fn with_budget<T>(budget: Duration, f: impl FnOnce() -> T) -> T {
    struct Reset(Option<Instant>);
    impl Drop for Reset {
        fn drop(&mut self) {
            DEADLINE.with(|d| d.set(self.0));
        }
    }
    let deadline = Instant::now().checked_add(budget);
    let _reset = Reset(DEADLINE.with(|d| d.replace(deadline)));
    f()
}

/// Reading the clock at every operation about doubles a tight loop's cost; every 16th
/// is as good, as no operation (helper inputs capped) takes more than microseconds.
const CLOCK_EVERY: u64 = 16;

fn over_budget(operations: u64) -> Option<Dynamic> {
    if !operations.is_multiple_of(CLOCK_EVERY) {
        return None;
    }
    let deadline = DEADLINE.with(Cell::get)?;
    (Instant::now() >= deadline).then(|| Dynamic::from(BUDGET_EXCEEDED))
}

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
    engine.on_progress(over_budget);
    register_helpers(&mut engine, lists);
    engine
}

fn err(msg: String) -> Box<EvalAltResult> {
    msg.into()
}

/// Refuses a helper's input over `max` bytes, so no single call runs long.
fn capped<'a>(helper: &str, s: &'a str, max: usize) -> Result<&'a str, Box<EvalAltResult>> {
    if s.len() > max {
        return Err(err(format!("{helper}: input of {} bytes is over the {max}-byte limit", s.len())));
    }
    Ok(s)
}

fn date(helper: &str, s: &str) -> Result<NaiveDate, Box<EvalAltResult>> {
    let s = capped(helper, s, MAX_DATE_TEXT)?;
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| err(format!("not a date (YYYY-MM-DD): {s:?}")))
}

fn host_of(s: &str) -> Option<Domain> {
    Domain::from_url(s).ok()
}

/// A helper over an address, URL or host: its input capped at [`MAX_ADDRESS_TEXT`].
fn address<T: 'static>(
    helper: &'static str,
    f: impl Fn(&str) -> T + Send + Sync + 'static,
) -> impl Fn(&str) -> Result<T, Box<EvalAltResult>> + Send + Sync + 'static {
    move |s: &str| Ok(f(capped(helper, s, MAX_ADDRESS_TEXT)?))
}

/// The domain of an address, or the text itself when it is a host or URL.
fn domain_part(s: &str) -> &str {
    s.trim().rsplit_once('@').map(|(_, d)| d).unwrap_or(s)
}

fn register_helpers(engine: &mut Engine, lists: Arc<HostLists>) {
    // Lists, natively: a script's own `reduce` calls a closure per element, which made these
    // two a tenth of a whole application's evaluation.
    engine.register_fn("join", |items: rhai::Array, separator: &str| -> Result<String, Box<EvalAltResult>> {
        let mut out = String::new();
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(separator);
            }
            out.push_str(&item.to_string());
            if out.len() > MAX_STRING_SIZE {
                return Err(err(format!("join: the text would be over the {MAX_STRING_SIZE}-byte limit")));
            }
        }
        Ok(out)
    });
    engine.register_fn("sum", |items: rhai::Array| -> Result<i64, Box<EvalAltResult>> {
        items.iter().try_fold(0i64, |total, item| {
            let n = item.as_int().map_err(|t| err(format!("sum: {t} is not a whole number")))?;
            total.checked_add(n).ok_or_else(|| err("sum: the total overflows".to_string()))
        })
    });

    // Money: cents in, cents out; `()` when the text is not an amount.
    engine.register_fn("parse_money", |s: &str| -> Result<Dynamic, Box<EvalAltResult>> {
        let s = capped("parse_money", s, MAX_MONEY_TEXT)?;
        Ok(Money::parse(s).map(|m| Dynamic::from_int(m.cents())).unwrap_or(Dynamic::UNIT))
    });
    engine.register_fn("format_money", |cents: i64| Money::from_cents(cents).to_string());
    // The deposit tier of `data/deposit_tier.txt`, so no script writes its own copy.
    let tier = lists.deposit_tier.cents();
    engine.register_fn("deposit_tier_cents", move || tier);

    engine.register_fn("days_between", |a: &str, b: &str| -> Result<i64, Box<EvalAltResult>> {
        Ok((date("days_between", b)? - date("days_between", a)?).num_days())
    });
    // Whole calendar months from a to b (negative when b is earlier).
    engine.register_fn("months_between", |a: &str, b: &str| -> Result<i64, Box<EvalAltResult>> {
        let (a, b) = (date("months_between", a)?, date("months_between", b)?);
        let mut months = i64::from(b.year() - a.year()) * 12 + i64::from(b.month()) - i64::from(a.month());
        if months > 0 && b.day() < a.day() {
            months -= 1;
        } else if months < 0 && b.day() > a.day() {
            months += 1;
        }
        Ok(months)
    });

    engine.register_fn(
        "registrable_domain",
        address("registrable_domain", |s| {
            host_of(domain_part(s)).map(|d| d.registrable().to_string()).unwrap_or_default()
        }),
    );
    engine.register_fn("host_of", address("host_of", |s| host_of(s).map(|d| d.to_string()).unwrap_or_default()));

    let l = lists.clone();
    engine.register_fn(
        "is_free_mail_domain",
        address("is_free_mail_domain", move |s| host_of(domain_part(s)).is_some_and(|d| l.free_mail.matches(&d))),
    );
    let l = lists.clone();
    engine.register_fn(
        "is_generic_platform_host",
        address("is_generic_platform_host", move |s| host_of(s).is_some_and(|d| l.generic_platforms.matches(&d))),
    );
    let l = lists.clone();
    engine.register_fn(
        "is_tool_directory_host",
        address("is_tool_directory_host", move |s| host_of(s).is_some_and(|d| l.tool_directories.matches(&d))),
    );
    // A link's kind as project material (`data/project_material_hosts.txt`), "other" when its
    // host is not listed. Policy versions from before the list define `material_kind` in
    // their script, which Rhai calls before a registered function of the same name.
    let l = lists;
    engine.register_fn(
        "material_kind",
        address("material_kind", move |s| host_of(s).and_then(|d| l.material.kind_of(&d)).unwrap_or("other")),
    );
}
