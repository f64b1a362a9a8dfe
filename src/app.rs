//! The shared context every adapter works with: configuration, store, workflows, services.

use std::sync::Arc;

use crate::config::Config;
use crate::email::Templates;
use crate::rules::Rules;
use crate::services::{Clock, WorkflowService};
use crate::store::{self, Store};
use crate::workflow::{Catalog, Workflows};

pub struct App {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub workflows: Arc<Workflows>,
    pub rules: Arc<Rules>,
    /// Email templates, compiled and checked at start-up.
    pub templates: Arc<Templates>,
    pub workflow: WorkflowService,
    /// This process's job and email counters (`GET /metrics`).
    pub metrics: Arc<crate::jobs::metrics::Metrics>,
    /// Usage debits waiting to be posted together.
    pub debits: Arc<crate::services::debit_queue::DebitQueue>,
    /// Idempotency keys being worked on in this process (one request per key at a time).
    pub idempotency: crate::services::in_flight::InFlight,
    /// The queue's counts per kind, read at most every few seconds (the console's queue page).
    pub task_counts: crate::services::task_counts::CountCache,
}

impl App {
    /// Loads and validates the workflows (start-up errors name file and line), then opens
    /// the database. Migrations run only when `migrate` is true.
    pub async fn build(config: Config, migrate: bool) -> anyhow::Result<Arc<App>> {
        // The files first: a broken workflow, rule or template fails before any connection.
        let files = Files::load(&config)?;
        let clock = crate::services::clock::from_config(&config)?;
        let _lock = match config.database_url.starts_with("sqlite:") && migrate {
            true => store::sqlite::startup_lock(&config.database_url).await?,
            false => None,
        };
        let store = store::connect_sized(&config.database_url, config.database_max_connections).await?;
        if migrate {
            store.migrate().await?;
        }
        let app = App::from_parts(config, store, files, clock);
        if migrate {
            // The rules in force: the folder's (development) or the database's version.
            let parts = crate::services::policy_in_force::Parts {
                store: app.store.as_ref(),
                rules: &app.rules,
                from_folder: app.config.rules.from_folder,
                database: &app.config.database_url,
                now: app.workflow.clock().now(),
            };
            crate::services::policy_in_force::start(&parts).await?;
        }
        Ok(app)
    }

    /// The database's kind (`sqlite` or `postgres`), for the logs.
    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// An app over a store that is already open, with its own clock (tests, benchmarks and
    /// simulations that control time).
    pub fn assemble(config: Config, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<App>> {
        let files = Files::load(&config)?;
        Ok(App::from_parts(config, store, files, clock))
    }

    fn from_parts(config: Config, store: Arc<dyn Store>, files: Files, clock: Arc<dyn Clock>) -> Arc<App> {
        let Files { workflows, rules, templates } = files;
        let debits = Arc::new(crate::services::debit_queue::DebitQueue::new(store.clone(), &workflows, clock.clone()));
        let workflow = WorkflowService::new(store.clone(), workflows.clone(), clock);
        Arc::new(App {
            config,
            store,
            workflows,
            rules,
            templates,
            workflow,
            metrics: Arc::default(),
            debits,
            idempotency: Default::default(),
            task_counts: Default::default(),
        })
    }
}

/// `creditline migrate`: brings the database's schema up to date without loading the
/// workflows, rules or templates (a broken one must not block a migration); answers the
/// database's kind.
pub async fn migrate(database_url: &str) -> anyhow::Result<&'static str> {
    let store = store::connect(database_url).await?;
    store.migrate().await?;
    Ok(store.backend())
}

/// The workflows, rules and templates, compiled and checked.
struct Files {
    workflows: Arc<Workflows>,
    rules: Arc<Rules>,
    templates: Arc<Templates>,
}

impl Files {
    fn load(config: &Config) -> anyhow::Result<Files> {
        Ok(Files {
            workflows: Arc::new(load_workflows(config)?),
            rules: Arc::new(load_rules(config)?),
            templates: Arc::new(load_templates(config)?),
        })
    }
}

fn load_rules(config: &Config) -> anyhow::Result<Rules> {
    Rules::load_with(&config.rules_dir, (&config.rules).into())
        .map_err(|errors| anyhow::anyhow!("{}", errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")))
}

fn load_templates(config: &Config) -> anyhow::Result<Templates> {
    Templates::load(&config.templates_dir)
        .map_err(|errors| anyhow::anyhow!("{}", errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")))
}

pub fn load_workflows(config: &Config) -> anyhow::Result<Workflows> {
    let catalog = Catalog::scan(&config.rules_dir, &config.templates_dir)?;
    let workflows = Workflows::load(&config.workflows_dir, &catalog)?;
    // The service acts on these names; a folder without them would misroute at run time.
    let missing = crate::workflow::names::missing(&workflows);
    if !missing.is_empty() {
        anyhow::bail!(
            "{}: the service needs these workflows and states, which the files do not declare: {}",
            config.workflows_dir.display(),
            missing.join(", ")
        );
    }
    Ok(workflows)
}

impl App {
    /// Recompiles the rules; a version that does not compile is rejected and the rules in
    /// force stay.
    pub fn reload_rules(&self) -> Result<Vec<(String, String)>, Vec<String>> {
        if !self.config.rules.from_folder {
            let refused = "rules.from_folder is off: the rules change only by a proposal another admin or senior \
                           reviewer approves (creditline rules propose, then rules approve)";
            tracing::warn!("{refused}; the reload is ignored");
            return Err(vec![refused.to_string()]);
        }
        match self.rules.reload() {
            Ok(versions) => {
                let summary: Vec<String> =
                    versions.iter().map(|(n, v)| format!("{n}={}", &v[..12.min(v.len())])).collect();
                tracing::info!(rules = %summary.join(" "), "rules reloaded");
                Ok(versions)
            }
            Err(errors) => {
                let errors: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                for e in &errors {
                    tracing::error!(error = %e, "rules reload rejected; the previous rules stay in force");
                }
                Err(errors)
            }
        }
    }
}
