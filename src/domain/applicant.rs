use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The three kinds of applicant the policy's review table distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicantKind {
    Enterprise,
    IndividualWithProduct,
    /// Never reaches review: answered with the prepaid path.
    IndividualWithoutProduct,
}

impl ApplicantKind {
    pub const ALL: [ApplicantKind; 3] =
        [ApplicantKind::Enterprise, ApplicantKind::IndividualWithProduct, ApplicantKind::IndividualWithoutProduct];

    pub fn as_str(self) -> &'static str {
        match self {
            ApplicantKind::Enterprise => "enterprise",
            ApplicantKind::IndividualWithProduct => "individual_with_product",
            ApplicantKind::IndividualWithoutProduct => "individual_without_product",
        }
    }

    /// Whether the policy allows a monthly credit line at all for this kind.
    pub fn may_get_credit_line(self) -> bool {
        !matches!(self, ApplicantKind::IndividualWithoutProduct)
    }
}

impl fmt::Display for ApplicantKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown applicant kind {0:?} (expected enterprise, individual_with_product or individual_without_product)")]
pub struct ApplicantKindError(String);

impl FromStr for ApplicantKind {
    type Err = ApplicantKindError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ApplicantKind::ALL.into_iter().find(|k| k.as_str() == s.trim()).ok_or_else(|| ApplicantKindError(s.to_string()))
    }
}
