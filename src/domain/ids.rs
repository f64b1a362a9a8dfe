//! Typed ids. UUID v7 so that ids sort by creation time, which keeps "oldest first"
//! listings and cursor pagination cheap.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema, sqlx::Type,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn new() -> Self {
                $name(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim()).map($name)
            }
        }
    };
}

id_type!(
    /// A credit-line application (and its workflow instance).
    ApplicationId
);
id_type!(
    /// A workflow subject of any kind: application, AWS login, credit line, limit increase.
    SubjectId
);
id_type!(
    /// An appended row of a workflow's event log.
    EventId
);
id_type!(
    /// An outgoing message or task waiting in the outbox.
    OutboxId
);
id_type!(
    /// A recorded rule decision.
    DecisionId
);
id_type!(
    /// A reviewer task (application review, triage, invoice request, ...).
    TaskId
);

impl From<ApplicationId> for SubjectId {
    fn from(id: ApplicationId) -> Self {
        SubjectId(id.0)
    }
}
