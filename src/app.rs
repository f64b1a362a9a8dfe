//! The shared context every adapter works with: configuration, store, workflows, services.

use std::sync::Arc;

use crate::config::Config;
use crate::services::{Clock, SystemClock, WorkflowService};
use crate::store::{self, Store};
use crate::workflow::{Catalog, Workflows};

pub struct App {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub workflows: Arc<Workflows>,
    pub workflow: WorkflowService,
}

impl App {
    /// Loads and validates the workflows (start-up errors name file and line), then opens
    /// the database. Migrations run only when `migrate` is true.
    pub async fn build(config: Config, migrate: bool) -> anyhow::Result<Arc<App>> {
        let workflows = Arc::new(load_workflows(&config)?);
        let store = store::connect(&config.database_url).await?;
        if migrate {
            store.migrate().await?;
        }
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let workflow = WorkflowService::new(store.clone(), workflows.clone(), clock);
        Ok(Arc::new(App { config, store, workflows, workflow }))
    }
}

pub fn load_workflows(config: &Config) -> anyhow::Result<Workflows> {
    let catalog = Catalog::scan(&config.rules_dir, &config.templates_dir)?;
    Ok(Workflows::load(&config.workflows_dir, &catalog)?)
}
