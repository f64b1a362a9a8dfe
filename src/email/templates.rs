//! Email templates: `templates/email/<name>.j2` (minijinja), each with the blocks `subject`,
//! `text` and `html`. All of them are loaded and checked at start-up: a template that does
//! not compile, lacks a block or uses a variable no message provides is an error naming the
//! file, so a typo fails the deploy instead of a customer's email. Rendering is strict too:
//! a variable the message's data lacks is an error, never an empty string.
//!
//! Every value in the `html` block is HTML-escaped (a reviewer's message or a requested item
//! is text, never markup); `subject` and `text` are plain text and stay as written. So each
//! file is compiled twice: once without escaping for the subject and text, once with
//! minijinja's HTML auto-escape for the html block.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use super::context::VARIABLES;

/// The parts of one rendered email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: {detail}", path.display())]
    Syntax { path: PathBuf, detail: String },
    #[error("{}: no {{% block {block} %}} (every email template has subject, text and html)", path.display())]
    MissingBlock { path: PathBuf, block: &'static str },
    #[error("{}: uses {variables:?}, which no email provides (known: {})", path.display(), VARIABLES.join(", "))]
    UnknownVariables { path: PathBuf, variables: Vec<String> },
    #[error("no email template {0:?} (templates/email/{0}.j2)")]
    NotFound(String),
    #[error("template {name}: {detail}")]
    Render { name: String, detail: String },
}

const BLOCKS: [&str; 3] = ["subject", "text", "html"];

/// Every email template, compiled.
pub struct Templates {
    /// For the subject and the text part: no escaping.
    env: Environment<'static>,
    /// For the html part: every value HTML-escaped.
    html: Environment<'static>,
    names: BTreeSet<String>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").field("names", &self.names).finish()
    }
}

impl Templates {
    /// Loads `templates_dir/email/*.j2`; returns every problem found, not just the first.
    pub fn load(templates_dir: &Path) -> Result<Templates, Vec<TemplateError>> {
        let dir = templates_dir.join("email");
        let entries =
            std::fs::read_dir(&dir).map_err(|source| vec![TemplateError::Io { path: dir.clone(), source }])?;
        let mut sources = BTreeMap::new();
        let mut errors = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("j2") {
                continue;
            }
            let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(str::to_string) else { continue };
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    sources.insert(name, (path, text));
                }
                Err(source) => errors.push(TemplateError::Io { path, source }),
            }
        }
        let environment = |escape: AutoEscape| {
            let mut env = Environment::new();
            env.set_undefined_behavior(UndefinedBehavior::Strict);
            env.set_keep_trailing_newline(false);
            env.set_auto_escape_callback(move |_| escape);
            env
        };
        let mut env = environment(AutoEscape::None);
        let mut html = environment(AutoEscape::Html);
        let known: BTreeSet<&str> = VARIABLES.iter().copied().collect();
        let mut names = BTreeSet::new();
        for (name, (path, text)) in sources {
            let compiled = env
                .add_template_owned(name.clone(), text.clone())
                .and_then(|()| html.add_template_owned(name.clone(), text.clone()));
            if let Err(e) = compiled {
                errors.push(TemplateError::Syntax { path, detail: e.to_string() });
                continue;
            }
            let Ok(template) = env.get_template(&name) else { continue };
            for block in BLOCKS {
                if !text.contains(&format!("{{% block {block} %}}")) {
                    errors.push(TemplateError::MissingBlock { path: path.clone(), block });
                }
            }
            let unknown: Vec<String> =
                template.undeclared_variables(false).into_iter().filter(|v| !known.contains(v.as_str())).collect();
            if !unknown.is_empty() {
                let mut variables = unknown;
                variables.sort();
                errors.push(TemplateError::UnknownVariables { path, variables });
                continue;
            }
            names.insert(name);
        }
        if errors.is_empty() { Ok(Templates { env, html, names }) } else { Err(errors) }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// Renders the three blocks of `name` with `data`. The subject is one line.
    pub fn render(&self, name: &str, data: &serde_json::Value) -> Result<Rendered, TemplateError> {
        if !self.names.contains(name) {
            return Err(TemplateError::NotFound(name.to_string()));
        }
        let fail = |e: minijinja::Error| TemplateError::Render { name: name.to_string(), detail: detail(&e) };
        let (subject, text) =
            blocks(&self.env, name, data, |state| Ok((state.render_block("subject")?, state.render_block("text")?)))
                .map_err(fail)?;
        let html = blocks(&self.html, name, data, |state| state.render_block("html")).map_err(fail)?;
        Ok(Rendered {
            subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
            text: text.trim().to_string() + "\n",
            html: html.trim().to_string() + "\n",
        })
    }
}

/// The variables a template cannot render without: every variable it uses, except those it
/// only reads behind `{% if x is defined %}` (optional by the templates' convention: any
/// variable named in an `is defined` test counts as optional everywhere in that file).
/// `None` when the source does not compile ([`Templates::load`] reports that).
pub fn required_variables(source: &str) -> Option<BTreeSet<String>> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_template_owned("t", source.to_string()).ok()?;
    let used = env.get_template("t").ok()?.undeclared_variables(false);
    let optional = optional_variables(source);
    Some(used.into_iter().filter(|v| !optional.contains(v)).collect())
}

/// Names tested with `is defined` (`x is defined`, `x is not defined`).
fn optional_variables(source: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (at, _) in source.match_indices(" is defined").chain(source.match_indices(" is not defined")) {
        let before = &source[..at];
        let name: String =
            before.chars().rev().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
        let name: String = name.chars().rev().collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

/// Renders template `name` of `env` with `data`, then takes what `read` makes of its blocks.
fn blocks<T>(
    env: &Environment<'static>,
    name: &str,
    data: &serde_json::Value,
    read: impl FnOnce(&mut minijinja::State<'_, '_>) -> Result<T, minijinja::Error>,
) -> Result<T, minijinja::Error> {
    env.get_template(name)?.render_captured(data)?.with_state_mut(read)
}

/// minijinja's error with its cause chain (the undefined variable's name is in the detail).
fn detail(e: &minijinja::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("email")).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join("email").join(name), text).unwrap();
        }
        dir
    }

    const GOOD: &str = "{% block subject %}Hi   {{ name }}\n[{{ reference }}]{% endblock %}\
                        {% block text %}Limit {{ limit }}{% endblock %}{% block html %}<p>{{ limit }}</p>{% endblock %}";

    #[test]
    fn renders_the_three_blocks_with_a_one_line_subject_and_escapes_html() {
        let dir = dir_with(&[("hello.j2", GOOD)]);
        let t = Templates::load(dir.path()).unwrap();
        let r = t.render("hello", &json!({ "name": "Ana", "reference": "CL-1", "limit": "<$200.00>" })).unwrap();
        assert_eq!(r.subject, "Hi Ana [CL-1]");
        assert_eq!(r.text, "Limit <$200.00>\n");
        assert!(
            r.html.contains("<p>&lt;$200.00&gt;</p>"),
            "values are escaped, the template's markup is not: {}",
            r.html
        );
    }

    #[test]
    fn a_missing_variable_is_an_error_not_an_empty_string() {
        let dir = dir_with(&[("hello.j2", GOOD)]);
        let t = Templates::load(dir.path()).unwrap();
        let e = t.render("hello", &json!({ "name": "Ana", "reference": "CL-1" })).unwrap_err();
        assert!(matches!(e, TemplateError::Render { .. }), "{e}");
        assert!(matches!(t.render("nope", &json!({})), Err(TemplateError::NotFound(_))));
    }

    #[test]
    fn a_variable_read_only_behind_is_defined_is_optional() {
        let source = "{% block subject %}{{ name }}{% endblock %}{% block text %}{% if until is defined %}\
                      {{ until }}{% endif %}{% for m in missing %}{{ m }}{% endfor %}{% endblock %}\
                      {% block html %}{% endblock %}";
        let needs = required_variables(source).unwrap();
        assert_eq!(needs, ["missing".to_string(), "name".to_string()].into(), "{needs:?}");
        assert!(required_variables("{{ broken").is_none());
    }

    #[test]
    fn start_up_names_every_broken_template() {
        let dir = dir_with(&[
            (
                "typo.j2",
                "{% block subject %}{{ nmae }}{% endblock %}{% block text %}{% endblock %}{% block html %}{% endblock %}",
            ),
            ("blocks.j2", "{% block subject %}x{% endblock %}"),
            ("syntax.j2", "{% block subject %}{{ name {% endblock %}"),
            ("fine.j2", GOOD),
        ]);
        let errors = Templates::load(dir.path()).unwrap_err();
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 4, "{text:#?}");
        assert!(text.iter().any(|e| e.contains("typo.j2") && e.contains("nmae")), "{text:#?}");
        assert!(text.iter().any(|e| e.contains("blocks.j2") && e.contains("block text")), "{text:#?}");
        assert!(text.iter().any(|e| e.contains("syntax.j2")), "{text:#?}");
    }
}
