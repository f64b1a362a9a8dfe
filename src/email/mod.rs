//! Outgoing email: the templates every workflow effect names, and the data they see.

pub mod context;
pub mod message;
pub mod templates;
pub mod transport;

pub use templates::{Rendered, TemplateError, Templates};
