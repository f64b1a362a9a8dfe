//! creditline: credit-line review for an AI platform. See README.md for the architecture.

pub mod app;
pub mod cli;
pub mod config;
pub mod console;
pub mod domain;
pub mod email;
pub mod folders;
pub mod http;
pub mod intake;
pub mod invoices;
pub mod jobs;
pub mod payments;
pub mod rules;
pub mod services;
pub mod sim;
pub mod store;
pub mod website;
pub mod workflow;
