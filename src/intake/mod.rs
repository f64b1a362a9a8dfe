//! Reading support-inbox mail: parse (`mail`, `authres`), clean (`text`), extract
//! (`extract`, `billing_csv`) and classify (`classify`), all pure functions of the message
//! bytes. What a message then does (routing, planning, the rules, the one commit) is
//! `services::inbound`. `imap` (the poller) and `sources` (files and Maildirs) are where the
//! bytes come from.

pub mod authres;
pub mod billing_csv;
pub mod classify;
pub mod extract;
pub mod imap;
pub mod mail;
pub mod sources;
pub mod text;
mod words;

use chrono::{DateTime, Utc};

use extract::{Extracted, field};
use mail::Mail;

use crate::rules::lists::MaterialHosts;

/// A message read and extracted, ready to plan (or the reason it cannot be read).
pub struct Parsed {
    pub mail: Result<Mail, mail::MailError>,
    pub extracted: Extracted,
}

/// Reads a raw message: parsed, cleaned and extracted. `now`, the time it was received,
/// stands in for a missing Date header: relative dates ("last week") are read against it.
/// `material`: the project-material hosts of the policy in force ([`extract::extract_with`]).
pub fn parse(raw: &[u8], now: DateTime<Utc>, material: &MaterialHosts) -> Parsed {
    let mail = mail::parse(raw);
    let extracted = match &mail {
        Ok(m) => {
            let mut x = extract::extract_with(&m.subject, &m.body, m.date.unwrap_or(now).date_naive(), material);
            // Recent AWS billing records (policy: "when applicable") arrive as a billing CSV.
            if let Some(a) = m.attachments.iter().find(|a| a.csv.as_deref().and_then(billing_csv::parse).is_some()) {
                x.set(
                    field::AWS_BILLING_RECORDS,
                    "true",
                    &format!("attached: {}", a.filename.as_deref().unwrap_or("billing CSV")),
                );
            }
            x
        }
        Err(_) => Extracted::default(),
    };
    Parsed { mail, extracted }
}
