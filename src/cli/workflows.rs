use std::process::ExitCode;

use clap::Subcommand;

use crate::config::Config;
use crate::workflow::mermaid;

#[derive(Debug, Subcommand)]
pub enum WorkflowsCommand {
    /// Validate every workflow file; errors name the file and the line.
    Check,
    /// List the workflows with their states.
    List,
    /// Print a Mermaid stateDiagram-v2 of one workflow.
    Graph {
        /// Workflow name, e.g. credit_line_application.
        name: String,
    },
}

impl WorkflowsCommand {
    pub fn run(self, config: &Config) -> anyhow::Result<ExitCode> {
        let workflows = match crate::app::load_workflows(config) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("{e}");
                return Ok(ExitCode::FAILURE);
            }
        };
        match self {
            WorkflowsCommand::Check => {
                let names: Vec<&str> = workflows.names().collect();
                println!("ok: {} workflows ({})", names.len(), names.join(", "));
            }
            WorkflowsCommand::List => {
                for def in workflows.iter() {
                    let states: Vec<&str> = def.states.keys().map(String::as_str).collect();
                    println!("{}: {} ({})", def.name, def.description, states.join(", "));
                }
            }
            WorkflowsCommand::Graph { name } => match workflows.get(&name) {
                Some(def) => print!("{}", mermaid(def)),
                None => {
                    let known: Vec<&str> = workflows.names().collect();
                    eprintln!("unknown workflow {name:?}; known: {}", known.join(", "));
                    return Ok(ExitCode::FAILURE);
                }
            },
        }
        Ok(ExitCode::SUCCESS)
    }
}
