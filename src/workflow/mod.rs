//! Persisted state machines defined in `workflows/*.toml`: loading with validation, the pure
//! engine, and diagrams. See `services::workflow` for applying a step to the database.

mod definition;
mod engine;
mod graph;
pub mod names;
mod validate;

use std::collections::BTreeMap;
use std::path::Path;

use crate::folders::files_with_extension;

pub use definition::{Definition, Effect, Guard, State, SubjectKind, TaskKind, Transition};
pub use engine::{EngineError, Outcomes, Step, step};
pub use graph::{layout, mermaid};
pub use validate::{Catalog, Problem, WorkflowError, parse_definition};

/// Errors from loading a folder of workflows: every problem found, not just the first.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{}", errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid { errors: Vec<WorkflowError> },
}

/// All validated workflow definitions, by name.
#[derive(Debug, Clone, Default)]
pub struct Workflows {
    defs: BTreeMap<String, Definition>,
}

impl Workflows {
    pub fn get(&self, name: &str) -> Option<&Definition> {
        self.defs.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Definition> {
        self.defs.values()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.defs.keys().map(String::as_str)
    }

    /// The states of `workflow` with a property (none for an unknown workflow).
    pub fn states_where(&self, workflow: &str, property: impl Fn(&State) -> bool) -> Vec<&str> {
        self.get(workflow).map(|d| d.states_where(property)).unwrap_or_default()
    }

    /// The state `name` of `workflow`, if both exist.
    pub fn state(&self, workflow: &str, name: &str) -> Option<&State> {
        self.get(workflow).and_then(|d| d.state(name))
    }

    /// Loads every `*.toml` in `dir`, checking names against the rules and templates found.
    pub fn load(dir: &Path, catalog: &Catalog) -> Result<Workflows, LoadError> {
        let io = |path: &Path, source| LoadError::Io { path: path.display().to_string(), source };
        let paths = files_with_extension(dir, "toml").map_err(|e| io(dir, e))?;
        let mut defs = BTreeMap::new();
        let mut errors = Vec::new();
        for path in paths {
            let source = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            match parse_definition(&path.display().to_string(), stem, &source, catalog) {
                Ok(def) => {
                    defs.insert(def.name.clone(), def);
                }
                Err(mut errs) => errors.append(&mut errs),
            }
        }
        if errors.is_empty() { Ok(Workflows { defs }) } else { Err(LoadError::Invalid { errors }) }
    }
}

impl Catalog {
    /// Rule names from `rules/*.rhai` and template names from `templates/email/*.j2`.
    /// With each template's required variables, so the loader can check every email effect.
    pub fn scan(rules_dir: &Path, templates_dir: &Path) -> Result<Catalog, LoadError> {
        let dir = templates_dir.join("email");
        let templates = stems(&dir, "j2")?;
        let mut template_needs = BTreeMap::new();
        for name in &templates {
            let path = dir.join(format!("{name}.j2"));
            let source = std::fs::read_to_string(&path)
                .map_err(|source| LoadError::Io { path: path.display().to_string(), source })?;
            // A template that does not compile is the template check's to report.
            if let Some(needs) = crate::email::templates::required_variables(&source) {
                template_needs.insert(name.clone(), needs);
            }
        }
        Ok(Catalog { rules: stems(rules_dir, "rhai")?, templates, template_needs })
    }
}

fn stems(dir: &Path, ext: &str) -> Result<std::collections::BTreeSet<String>, LoadError> {
    let paths = match files_with_extension(dir, ext) {
        Ok(p) => p,
        // A missing folder simply offers no names; every reference to it is then reported.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
        Err(source) => return Err(LoadError::Io { path: dir.display().to_string(), source }),
    };
    Ok(paths.iter().filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_string)).collect())
}
