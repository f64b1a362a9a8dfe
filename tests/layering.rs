//! Checks on the shape of the source tree that the compiler does not make: state names
//! belong to `workflows/*.toml` (Rust names them only through `src/workflow/names.rs`, which
//! start-up checks against the files).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every state name declared in the shipped workflow files.
fn state_names() -> BTreeSet<String> {
    workflow_files().iter().flat_map(|doc| doc["states"].as_table().unwrap().keys().cloned()).collect()
}

/// The shipped workflow files, parsed.
fn workflow_files() -> Vec<toml::Table> {
    let mut docs = Vec::new();
    for entry in std::fs::read_dir(repo().join("workflows")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            docs.push(std::fs::read_to_string(&path).unwrap().parse().unwrap());
        }
    }
    docs
}

/// A file's code lines, numbered from 1: what comes before its test module, comment lines
/// left out.
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    code.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .map(|(i, line)| (i + 1, line.to_string()))
        .collect()
}

fn rule_names() -> BTreeSet<String> {
    std::fs::read_dir(repo().join("rules"))
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            (path.extension()? == "rhai").then(|| path.file_stem()?.to_str().map(str::to_string))?
        })
        .collect()
}

/// Literals that are state names but mean something else where they stand: (file, literal, why).
const NOT_STATES: &[(&str, &str, &str)] = &[
    ("src/jobs/metrics.rs", "sent", "an outbox row's status"),
    ("src/store/outbox.rs", "sent", "an outbox row's status"),
    ("src/store/operations.rs", "sent", "an outbox row's status"),
    ("src/sim/invariants.rs", "sent", "an outbox row's status"),
    ("src/sim/scale_out.rs", "sent", "an outbox row's status"),
    ("src/services/decisions.rs", "business_verification", "the latest decision of that rule"),
];

/// The state-name literals of one file's code: `(line, literal)`. Test modules (from
/// `#[cfg(test)]` on) and comments are not code.
fn offences(file: &str, source: &str, states: &BTreeSet<String>, rules: &BTreeSet<String>) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in source.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        let code = line.split(" // ").next().unwrap_or(line);
        for state in states {
            if !(code.contains(&format!("\"{state}\"")) || code.contains(&format!("'{state}'"))) {
                continue;
            }
            // A rule shares its name with the state that runs it (`business_verification`):
            // naming the rule is fine.
            let names_a_rule =
                rules.contains(state) && ["evaluate", "decision", "rule"].iter().any(|w| code.contains(w));
            let excused = NOT_STATES.iter().any(|(f, l, _)| *f == file && l == state);
            if !names_a_rule && !excused {
                out.push((i + 1, state.clone()));
            }
        }
    }
    out
}

#[test]
fn the_scanner_finds_a_state_literal_in_code_and_not_in_comments_or_tests() {
    let states: BTreeSet<String> = ["grace".to_string(), "business_verification".to_string()].into();
    let rules: BTreeSet<String> = ["business_verification".to_string()].into();
    let src = "let a = line.state == \"grace\";\n\
               // the line is \"grace\" here\n\
               let q = \"SELECT 1 WHERE state = 'grace'\";\n\
               let d = app.rules.evaluate(\"business_verification\", &x);\n\
               let s = cursor.state == \"business_verification\";\n\
               #[cfg(test)]\n\
               mod tests { const S: &str = \"grace\"; }\n";
    let found = offences("src/x.rs", src, &states, &rules);
    assert_eq!(found, [(1, "grace".to_string()), (3, "grace".to_string()), (5, "business_verification".to_string())]);
}

/// Issue 19, point 5: no state string literals in Rust outside `src/workflow/` and tests. A
/// group of states is a flag in the file; a single state is a `workflow::names` constant.
#[test]
fn no_state_name_is_spelled_out_in_rust_outside_the_workflow_module() {
    let states = state_names();
    assert!(states.contains("awaiting_second_approval") && states.contains("grace"), "{states:?}");
    let rules = rule_names();
    let root = repo();
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut found = Vec::new();
    for path in files {
        let rel = path.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        // The owner of the names, and the rules, whose outcomes share words with states
        // (`cycle_gating` decides "grace").
        if rel.starts_with("src/workflow/") || rel.starts_with("src/rules/") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        for (line, state) in offences(&rel, &source, &states, &rules) {
            found.push(format!("{rel}:{line}: \"{state}\""));
        }
    }
    assert!(
        found.is_empty(),
        "state names spelled out in Rust (use a flag in the workflow file, or workflow::names):\n{}",
        found.join("\n")
    );
}

// ---- import cycles ----------------------------------------------------------------------

/// `src/a/b.rs` → `a::b`, `src/a/mod.rs` → `a`; the crate root is "".
fn module_of(rel: &Path) -> String {
    let mut parts: Vec<String> = rel.with_extension("").iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts.join("::")
}

/// Every module of `src` with the modules its code (not its tests) names through `crate::`
/// or `super::` paths, `use` groups included. A module naming its own parent or child is not
/// counted: a parent declares its children, and children share their parent's types.
fn import_graph() -> std::collections::BTreeMap<String, BTreeSet<String>> {
    let src = repo().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let sources: Vec<(String, String)> = files
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            // Code only: doc links and the tests' imports are no dependency.
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let code: String =
                code.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
            (module_of(p.strip_prefix(&src).unwrap()), code)
        })
        .collect();
    let modules: BTreeSet<&str> = sources.iter().map(|(m, _)| m.as_str()).collect();
    // The longest module that a path names.
    let resolve = |path: &[&str]| -> Option<String> {
        (1..=path.len()).rev().map(|n| path[..n].join("::")).find(|m| modules.contains(m.as_str()))
    };
    let related = |a: &str, b: &str| {
        a == b || b.is_empty() || a.starts_with(&format!("{b}::")) || b.starts_with(&format!("{a}::"))
    };
    let path = regex::Regex::new(r"\b(crate|super)((?:::[a-z_][a-z0-9_]*)+)(?:::\{([^}]*)\})?").unwrap();
    let mut graph = std::collections::BTreeMap::new();
    for (module, code) in &sources {
        let mut deps = BTreeSet::new();
        let here: Vec<&str> = if module.is_empty() { Vec::new() } else { module.split("::").collect() };
        for c in path.captures_iter(code) {
            let mut base: Vec<&str> =
                if &c[1] == "crate" { Vec::new() } else { here[..here.len().saturating_sub(1)].to_vec() };
            base.extend(c[2].split("::").filter(|s| !s.is_empty()));
            let mut targets = vec![base.clone()];
            if let Some(group) = c.get(3) {
                for item in group.as_str().split(',') {
                    let item = item.split_whitespace().next().unwrap_or_default();
                    if !item.is_empty() && item != "self" {
                        let mut t = base.clone();
                        t.extend(item.split("::"));
                        targets.push(t);
                    }
                }
            }
            for t in targets {
                if let Some(m) = resolve(&t).filter(|m| !related(module, m)) {
                    deps.insert(m);
                }
            }
        }
        graph.insert(module.clone(), deps);
    }
    graph
}

/// The groups of modules that import each other, round and round (strongly connected
/// components of more than one module), each sorted.
fn cycles(graph: &std::collections::BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Two modules are in one group when each reaches the other.
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(m) = todo.pop() {
            for d in graph.get(&m).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
        seen
    };
    let reached: std::collections::BTreeMap<&String, BTreeSet<String>> = graph.keys().map(|m| (m, reach(m))).collect();
    let mut groups: Vec<Vec<String>> = Vec::new();
    for m in graph.keys() {
        if groups.iter().any(|g| g.contains(m)) || !reached[m].contains(m) {
            continue;
        }
        let group: Vec<String> =
            graph.keys().filter(|o| reached[m].contains(*o) && reached[*o].contains(m)).cloned().collect();
        groups.push(group);
    }
    groups
}

#[test]
fn the_cycle_finder_finds_a_loop_and_nothing_else() {
    let edges = |pairs: &[(&str, &str)]| {
        let mut g: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
        for (a, b) in pairs {
            g.entry(a.to_string()).or_default().insert(b.to_string());
            g.entry(b.to_string()).or_default();
        }
        g
    };
    let g = edges(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "e")]);
    assert_eq!(cycles(&g), [vec!["a".to_string(), "b".into(), "c".into()]]);
    assert!(cycles(&edges(&[("a", "b"), ("b", "c")])).is_empty());
}

/// Import cycles that exist today. Each is a debt: a module in one of them cannot be moved or
/// tested alone. The test fails when a new cycle appears or a known one grows, and says which.
// None today: the last (services took the whole `App`, which held parts the services made)
// was paid in issue 19 by moving those parts (debit queue, in-flight keys, delivery attempt)
// into modules that do not know `App`. A new one needs a reason here.
const KNOWN_CYCLES: &[&[&str]] = &[];

#[test]
fn no_import_cycle_beyond_the_known_ones() {
    let found = cycles(&import_graph());
    let new: Vec<&Vec<String>> =
        found.iter().filter(|g| !KNOWN_CYCLES.iter().any(|k| g.iter().all(|m| k.contains(&m.as_str())))).collect();
    assert!(new.is_empty(), "modules importing each other round and round, beyond the known cycles: {new:#?}");
    // A debt paid is struck off the list, so the list stays the truth.
    let paid: Vec<&&[&str]> = KNOWN_CYCLES
        .iter()
        .filter(|k| !found.iter().any(|g| g.len() == k.len() && g.iter().all(|m| k.contains(&m.as_str()))))
        .collect();
    assert!(paid.is_empty(), "known cycles that no longer exist (remove them from KNOWN_CYCLES): {paid:#?}");
}

/// Billing's modules by layer: a module imports only from layers below its own. The
/// scheduled job closes months and gates; the close proposes increases; the steps read lines
/// and standings through the layer below them; the error type is at the bottom.
const BILLING_LAYERS: &[(&str, u8)] = &[
    ("schedule", 4),
    ("close", 3),
    ("escalation", 2),
    ("gate", 2),
    ("repay", 2),
    ("lines", 1),
    ("payment_standing", 1),
    ("error", 0),
];

#[test]
fn billing_imports_point_one_way() {
    let graph = import_graph();
    let layer = |m: &str| {
        let name = m.strip_prefix("services::billing::")?;
        BILLING_LAYERS.iter().find(|(n, _)| *n == name).map(|(_, l)| *l)
    };
    let unplaced: Vec<&String> =
        graph.keys().filter(|m| m.starts_with("services::billing::") && layer(m).is_none()).collect();
    assert!(unplaced.is_empty(), "billing modules without a layer in BILLING_LAYERS: {unplaced:?}");
    let mut inside = 0;
    let mut upward = Vec::new();
    for (from, deps) in &graph {
        let Some(a) = layer(from) else { continue };
        for to in deps {
            let Some(b) = layer(to) else { continue };
            inside += 1;
            if a <= b {
                upward.push(format!("{from} -> {to}"));
            }
        }
    }
    // The graph sees billing's own imports (the close runs the increase scan): the check
    // below is not passing on an empty graph.
    assert!(graph["services::billing::close"].contains("services::billing::escalation"));
    assert!(inside >= 10, "only {inside} imports inside billing seen");
    assert!(upward.is_empty(), "billing imports that point sideways or up: {upward:#?}");
}

/// Routes are declared once, with their OpenAPI entry (`routes!` of utoipa-axum over the
/// handler's `#[utoipa::path]`): a plain axum `.route(…)` would serve a path the document
/// does not show, and a `paths(…)` list in the document would repeat the routes.
#[test]
fn every_route_is_declared_once_with_its_document_entry() {
    let mut files = Vec::new();
    rust_files(&repo().join("src/http"), &mut files);
    let mut found = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if !code.starts_with("//") && (code.contains(".route(\"") || code.starts_with("paths(")) {
                found.push(format!("{}:{}: {}", f.display(), n + 1, code));
            }
        }
    }
    assert!(files.len() > 5, "src/http read");
    assert!(found.is_empty(), "routes declared outside `routes!`:\n{}", found.join("\n"));
}

/// The HTTP adapter asks the services, never the store: no handler calls a store method.
/// The readiness probe and the metrics, which report on the store itself, are the exception.
/// (The stricter check below also keeps the adapters from naming the store at all.)
#[test]
fn http_handlers_call_services_not_the_store() {
    let mut files = Vec::new();
    rust_files(&repo().join("src/http"), &mut files);
    let call = regex::Regex::new(r"\bstore\s*\.\s*([a-z_]+)\s*\(").unwrap();
    let mut found = Vec::new();
    for f in files.iter().filter(|f| !f.ends_with("health.rs")) {
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for c in call.captures_iter(line) {
                if &c[1] != "as_ref" {
                    found.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(files.len() > 5, "src/http read");
    assert!(found.is_empty(), "HTTP handlers calling the store (add a service or a view):\n{}", found.join("\n"));
}

/// Issue 19, point 3: the store keeps no business knowledge. Which workflows exist and what
/// their states mean is the workflow files' to say; the store's SQL takes them as parameters
/// (`DrawingLines`, the `ended` states of `lines_to_bill`) instead of naming them.
#[test]
fn the_store_names_no_workflow() {
    let names: BTreeSet<String> =
        workflow_files().iter().map(|doc| doc["name"].as_str().unwrap().to_string()).collect();
    assert!(names.contains("credit_line"), "{names:?}");
    let mut files = Vec::new();
    rust_files(&repo().join("src/store"), &mut files);
    let mut found = Vec::new();
    for f in &files {
        for (n, line) in code_lines(f) {
            for name in &names {
                if line.contains(&format!("'{name}'")) || line.contains(&format!("\"{name}\"")) {
                    found.push(format!("{}:{}: {}", f.display(), n, line.trim()));
                }
            }
        }
    }
    assert!(files.len() > 10, "src/store read");
    assert!(
        found.is_empty(),
        "workflow names in the store (pass them in from the workflow files):\n{}",
        found.join("\n")
    );
}

// ---- adapters and the store --------------------------------------------------------------

/// Adapters that may name the store, and why.
const STORE_IN_ADAPTERS: &[(&str, &str)] = &[(
    "src/http/health.rs",
    "readiness asks the database itself whether it answers, and the metrics report its email queue",
)];

/// Where a source names the store: `(line, code)`. A path through the `store` module
/// (`crate::store::…`, `super::store`, `store::…`, `crate::{store, …}`) or the `App`'s store
/// field (`app.store.…`, `&app.store`). Comments and the test module (from `#[cfg(test)]` on)
/// are not code.
fn store_mentions(source: &str) -> Vec<(usize, String)> {
    let names = regex::Regex::new(r"\bstore\s*::|::\s*store\b|::\s*\{[^}]*\bstore\b|\.\s*store\b").unwrap();
    let mut out = Vec::new();
    for (i, line) in source.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        let code = line.split(" // ").next().unwrap_or(line);
        if names.is_match(code) {
            out.push((i + 1, code.trim().to_string()));
        }
    }
    out
}

#[test]
fn the_store_scanner_finds_paths_and_fields_and_not_comments_or_tests() {
    let src = "use crate::store::TaskFilter;\n\
               use crate::{app::App, store};\n\
               let s = super::store::connect(url);\n\
               // app.store.task(id) reads it\n\
               let t = app.store.task(id).await?; // crate::services\n\
               let v = views::tasks(&app, filter).await?; // not app.store.list_tasks\n\
               let r = restore(x);\n\
               let e = \"a store error\";\n\
               #[cfg(test)]\n\
               mod tests { use crate::store::Store; }\n";
    let found: Vec<usize> = store_mentions(src).into_iter().map(|(n, _)| n).collect();
    assert_eq!(found, [1, 2, 3, 5]);
}

/// Issue 19, point 1: the adapters (HTTP, CLI) go through the services and never name the
/// store: not its records, filters or errors (the services re-export the records they answer
/// with and map storage failures to their own errors), and not `app.store`.
#[test]
fn adapters_do_not_name_the_store() {
    let root = repo();
    let mut files = Vec::new();
    rust_files(&root.join("src/http"), &mut files);
    rust_files(&root.join("src/cli"), &mut files);
    rust_files(&root.join("src/console"), &mut files);
    assert!(files.len() > 20, "src/http, src/cli and src/console read: {}", files.len());
    let mut found = Vec::new();
    let mut excused = BTreeSet::new();
    for path in &files {
        let rel = path.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        let mentions = store_mentions(&std::fs::read_to_string(path).unwrap());
        if STORE_IN_ADAPTERS.iter().any(|(f, _)| *f == rel) {
            if !mentions.is_empty() {
                excused.insert(rel);
            }
            continue;
        }
        for (line, code) in mentions {
            found.push(format!("{rel}:{line}: {code}"));
        }
    }
    // An exception that no longer names the store is stale: drop it from the list.
    let stale: Vec<&str> = STORE_IN_ADAPTERS.iter().map(|(f, _)| *f).filter(|f| !excused.contains(*f)).collect();
    assert!(stale.is_empty(), "STORE_IN_ADAPTERS lists files that no longer name the store: {stale:?}");
    assert!(
        found.is_empty(),
        "adapters naming the store (go through a service in src/services):\n{}",
        found.join("\n")
    );
}

/// The job wiring may touch only the queues' own rows in the store: it relays due emails and
/// website checks to their jobs, recovers what a dead worker left, records its heartbeat and
/// takes SQLite's start-up lock. Everything else goes through a service (README, the layers'
/// table).
const STORE_IN_JOBS: &[&str] = &[
    // calls
    "worker_beat",
    "outbox_due",
    "recover_outbox",
    "queue_outbox",
    "queue_website_checks",
    // names
    "QueuedEmail",
    "WebsiteCheckJob",
    "WorkerBeat",
    "sqlite",
];

#[test]
fn jobs_touch_only_the_queues_rows_in_the_store() {
    let mut files = Vec::new();
    rust_files(&repo().join("src/jobs"), &mut files);
    let call = regex::Regex::new(r"\bstore\s*\.\s*([a-z_]+)\s*\(").unwrap();
    let path = regex::Regex::new(r"crate::store::(?:\{([^}]*)\}|([A-Za-z_]+))").unwrap();
    let mut used = BTreeSet::new();
    let mut found = Vec::new();
    for f in &files {
        for (n, line) in code_lines(f) {
            let mut names: Vec<String> = call.captures_iter(&line).map(|c| c[1].to_string()).collect();
            for c in path.captures_iter(&line) {
                let group = c.get(1).or(c.get(2)).map_or("", |m| m.as_str());
                names.extend(group.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()));
            }
            for name in names {
                if STORE_IN_JOBS.contains(&name.as_str()) {
                    used.insert(name);
                } else {
                    found.push(format!("{}:{}: {name}: {}", f.display(), n, line.trim()));
                }
            }
        }
    }
    assert!(files.len() >= 2, "src/jobs read");
    assert!(
        found.is_empty(),
        "the job wiring reaching into the store beyond the queues (call a service):\n{}",
        found.join("\n")
    );
    let stale: Vec<&&str> = STORE_IN_JOBS.iter().filter(|n| !used.contains(**n)).collect();
    assert!(stale.is_empty(), "STORE_IN_JOBS lists what src/jobs no longer uses: {stale:?}");
}
