//! Mermaid `stateDiagram-v2` rendering, for the README and for reviewers who want to see
//! where an application can go next.

use std::fmt::Write;

use super::definition::Definition;

pub fn mermaid(def: &Definition) -> String {
    let mut out = String::from("stateDiagram-v2\n");
    let _ = writeln!(out, "    [*] --> {}", def.initial);
    for t in &def.transitions {
        for from in &t.from {
            let mut label = t.event.clone();
            if let Some(g) = &t.guard {
                let _ = write!(label, " ({} = {})", g.rule, g.outcomes.join(" or "));
            }
            let _ = writeln!(out, "    {from} --> {}: {label}", t.target(from));
        }
    }
    for state in def.states.values().filter(|s| s.terminal) {
        let _ = writeln!(out, "    {} --> [*]", state.name);
    }
    out
}
