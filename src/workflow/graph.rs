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

/// A state's box in a [`layout`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Node {
    pub name: String,
    pub x: i64,
    pub y: i64,
    pub initial: bool,
    pub terminal: bool,
    pub keeps_prepaid_access: bool,
}

/// A transition's arrow: an SVG path from one box to another, and what moves along it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub label: String,
    pub path: String,
}

/// A diagram's boxes and arrows, in SVG user units.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Layout {
    pub width: i64,
    pub height: i64,
    pub node_width: i64,
    pub node_height: i64,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

const NODE_W: i64 = 170;
const NODE_H: i64 = 34;
const COLUMN: i64 = 230;
const ROW: i64 = 60;
const MARGIN: i64 = 12;

/// Lays a workflow out left to right: each state in the column of its distance (in
/// transitions) from the initial state, unreachable ones last. Transitions that stay in their
/// state (reminders, bills) draw no arrow; the table beside the diagram lists every one.
pub fn layout(def: &Definition) -> Layout {
    use std::collections::{BTreeMap, VecDeque};
    let mut depth: BTreeMap<&str, i64> = BTreeMap::new();
    let mut queue = VecDeque::from([(def.initial.as_str(), 0)]);
    while let Some((state, d)) = queue.pop_front() {
        if depth.contains_key(state) {
            continue;
        }
        depth.insert(state, d);
        for t in def.transitions_from(state) {
            queue.push_back((t.target(state), d + 1));
        }
    }
    let last = depth.values().max().copied().unwrap_or(0) + 1;
    let mut columns: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    for name in def.states.keys() {
        columns.entry(depth.get(name.as_str()).copied().unwrap_or(last)).or_default().push(name);
    }
    let mut at: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    let mut nodes = Vec::new();
    for (column, (_, names)) in columns.iter().enumerate() {
        for (row, name) in names.iter().enumerate() {
            let (x, y) = (MARGIN + column as i64 * COLUMN, MARGIN + row as i64 * ROW);
            at.insert(name, (x, y));
            let state = def.state(name);
            nodes.push(Node {
                name: name.to_string(),
                x,
                y,
                initial: *name == def.initial,
                terminal: state.is_some_and(|s| s.terminal),
                keeps_prepaid_access: state.is_some_and(|s| s.keeps_prepaid_access),
            });
        }
    }
    let mut edges = Vec::new();
    for t in &def.transitions {
        for from in &t.from {
            let to = t.target(from);
            let (Some(&(x1, y1)), Some(&(x2, y2))) = (at.get(from.as_str()), at.get(to)) else { continue };
            if from == to {
                continue;
            }
            let (sx, sy) = (x1 + NODE_W, y1 + NODE_H / 2);
            let (ex, ey) = (x2, y2 + NODE_H / 2);
            let path = if ex > sx {
                let mid = (sx + ex) / 2;
                format!("M{sx},{sy} C{mid},{sy} {mid},{ey} {ex},{ey}")
            } else {
                // Back or sideways: leave from the bottom, loop under, enter from the left.
                let (bx, by) = (x1 + NODE_W / 2, y1 + NODE_H);
                let low = y1.max(y2) + NODE_H + ROW / 2;
                format!("M{bx},{by} C{bx},{low} {},{low} {ex},{ey}", ex - 40)
            };
            let mut label = t.event.clone();
            if let Some(g) = &t.guard {
                label.push_str(&format!(" ({} = {})", g.rule, g.outcomes.join(" or ")));
            }
            edges.push(Edge { from: from.clone(), to: to.to_string(), label, path });
        }
    }
    let width = nodes.iter().map(|n| n.x + NODE_W).max().unwrap_or(0) + MARGIN;
    let height = nodes.iter().map(|n| n.y + NODE_H).max().unwrap_or(0) + ROW + MARGIN;
    Layout { width, height, node_width: NODE_W, node_height: NODE_H, nodes, edges }
}
