//! One outgoing email as bytes: From and Reply-To the support address, a Message-ID derived
//! from the outbox row (so a retry after a crash sends the *same* message, which receivers
//! and our own threading deduplicate), In-Reply-To and References to the applicant's thread,
//! `Auto-Submitted: auto-generated` (RFC 3834: auto-responders must not answer it), and
//! multipart text and HTML.

use std::time::SystemTime;

use lettre::Message;
use lettre::message::header::{self, ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};

use super::Rendered;
use crate::domain::OutboxId;

#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("address {0:?}: {1}")]
    Address(String, String),
    #[error("the message could not be built: {0}")]
    Build(String),
}

/// Where an email goes and what it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The support address, e.g. `WaveSpeedAI Support <support@wavespeed.ai>`.
    pub from: String,
    pub to: String,
    /// Message-IDs of the applicant's thread, oldest first: the newest is In-Reply-To.
    pub thread: Vec<String>,
}

/// `<outbox.ID@DOMAIN>`: the same outbox row always gives the same Message-ID.
pub fn message_id(outbox: OutboxId, from: &Mailbox) -> String {
    format!("<outbox.{}@{}>", outbox, from.email.domain())
}

/// `Auto-Submitted: auto-generated`.
#[derive(Debug, Clone)]
struct AutoSubmitted;

impl header::Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_string())
    }
}

/// A file sent with an email (an invoice's PDF). Its bytes are kept in the outbox row's
/// payload (`attachments`, base64), so every retry sends the same bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl Attachment {
    /// The payload form: `{"filename", "content_type", "base64"}`.
    pub fn to_payload(&self) -> serde_json::Value {
        use base64::Engine;
        serde_json::json!({
            "filename": self.filename,
            "content_type": self.content_type,
            "base64": base64::engine::general_purpose::STANDARD.encode(&self.bytes),
        })
    }
}

/// The attachments an outbox payload carries (none when it has no `attachments`).
pub fn attachments_of(payload: &serde_json::Value) -> Result<Vec<Attachment>, MessageError> {
    use base64::Engine;
    let Some(list) = payload.get("attachments").filter(|v| !v.is_null()) else { return Ok(Vec::new()) };
    let bad = |why: &str| MessageError::Build(format!("attachments: {why}"));
    let list = list.as_array().ok_or_else(|| bad("not a list"))?;
    list.iter()
        .map(|a| {
            let text = |k: &str| a.get(k).and_then(|v| v.as_str()).ok_or_else(|| bad(&format!("no {k}")));
            let bytes =
                base64::engine::general_purpose::STANDARD.decode(text("base64")?).map_err(|e| bad(&e.to_string()))?;
            Ok(Attachment {
                filename: text("filename")?.to_string(),
                content_type: text("content_type")?.to_string(),
                bytes,
            })
        })
        .collect()
}

/// Builds the message for outbox row `outbox`, dated `at`.
pub fn build(
    outbox: OutboxId,
    envelope: &Envelope,
    rendered: &Rendered,
    at: SystemTime,
) -> Result<Message, MessageError> {
    build_with(outbox, envelope, rendered, &[], at)
}

/// [`build`] with files attached: `multipart/mixed` of the text and HTML alternatives and
/// the files.
pub fn build_with(
    outbox: OutboxId,
    envelope: &Envelope,
    rendered: &Rendered,
    attachments: &[Attachment],
    at: SystemTime,
) -> Result<Message, MessageError> {
    let parse = |a: &str| a.parse::<Mailbox>().map_err(|e| MessageError::Address(a.to_string(), e.to_string()));
    let from = parse(&envelope.from)?;
    let to = parse(&envelope.to)?;
    let mut builder = Message::builder()
        .from(from.clone())
        .reply_to(from.clone())
        .to(to)
        .subject(rendered.subject.clone())
        .message_id(Some(message_id(outbox, &from)))
        .date(at)
        .header(AutoSubmitted);
    // Only ids that look like ids travel on: a stored Message-ID is applicant input.
    let thread: Vec<&String> = envelope.thread.iter().filter(|id| is_message_id(id)).collect();
    if let Some(last) = thread.last() {
        builder = builder.in_reply_to((*last).clone());
    }
    if !thread.is_empty() {
        // The newest few are enough to thread; the header stays a sane length.
        let recent: Vec<&str> = thread.iter().rev().take(10).rev().map(|s| s.as_str()).collect();
        builder = builder.references(recent.join(" "));
    }
    let alternative = MultiPart::alternative()
        .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(rendered.text.clone()))
        .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(rendered.html.clone()));
    if attachments.is_empty() {
        return builder.multipart(alternative).map_err(|e| MessageError::Build(e.to_string()));
    }
    let mut mixed = MultiPart::mixed().multipart(alternative);
    for a in attachments {
        let content_type = ContentType::parse(&a.content_type)
            .map_err(|e| MessageError::Build(format!("attachment {}: {e}", a.filename)))?;
        mixed =
            mixed.singlepart(lettre::message::Attachment::new(a.filename.clone()).body(a.bytes.clone(), content_type));
    }
    builder.multipart(mixed).map_err(|e| MessageError::Build(e.to_string()))
}

fn is_message_id(id: &str) -> bool {
    id.len() <= 998
        && id.starts_with('<')
        && id.ends_with('>')
        && id.contains('@')
        && id.chars().all(|c| c.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered() -> Rendered {
        Rendered {
            subject: "Your monthly credit line is approved: $200.00/month [CL-4K7Q2M9X]".into(),
            text: "Hello there,\nApproved: $200.00.\n".into(),
            html: "<p>Approved: $200.00.</p>\n".into(),
        }
    }

    fn envelope(thread: &[&str]) -> Envelope {
        Envelope {
            from: "WaveSpeedAI Support <support@wavespeed.ai>".into(),
            to: "ops@acme-render.com".into(),
            thread: thread.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_message_carries_the_support_address_a_stable_id_the_thread_and_both_parts() {
        let id = OutboxId::new();
        let env = envelope(&["<first@acme-render.com>", "<second@acme-render.com>", "bogus\r\nBcc: x@y.z"]);
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_790_000_000);
        let raw = String::from_utf8(build(id, &env, &rendered(), at).unwrap().formatted()).unwrap();
        let again = String::from_utf8(build(id, &env, &rendered(), at).unwrap().formatted()).unwrap();
        assert!(raw.contains(&format!("Message-ID: <outbox.{id}@wavespeed.ai>")), "{raw}");
        assert!(again.contains(&format!("Message-ID: <outbox.{id}@wavespeed.ai>")), "stable across retries");
        assert!(raw.contains("From: \"WaveSpeedAI Support\" <support@wavespeed.ai>"), "{raw}");
        assert!(raw.contains("Reply-To: \"WaveSpeedAI Support\" <support@wavespeed.ai>"), "{raw}");
        assert!(raw.contains("To: ops@acme-render.com"), "{raw}");
        assert!(raw.contains("In-Reply-To: <second@acme-render.com>"), "{raw}");
        assert!(raw.contains("References: <first@acme-render.com> <second@acme-render.com>"), "{raw}");
        // Only a header line counts: the random MIME boundary may spell "Bcc" by chance.
        assert!(
            !raw.lines().any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
            "an injected header never travels: {raw}"
        );
        assert!(!raw.contains("x@y.z"), "nor does its address: {raw}");
        assert!(raw.contains("Auto-Submitted: auto-generated"), "{raw}");
        assert!(raw.contains("[CL-4K7Q2M9X]"), "{raw}");
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("text/plain") && raw.contains("text/html"), "{raw}");

        // It parses back as the mail it claims to be.
        let parsed = mail_parser::MessageParser::default().parse(raw.as_bytes()).unwrap();
        assert_eq!(parsed.message_id(), Some(format!("outbox.{id}@wavespeed.ai").as_str()));
        assert_eq!(parsed.body_text(0).unwrap().replace("\r\n", "\n").trim(), "Hello there,\nApproved: $200.00.");
    }

    #[test]
    fn attachments_travel_as_their_own_parts_with_the_same_bytes() {
        use mail_parser::MimeHeaders;
        let file = Attachment {
            filename: "INV-000001.pdf".into(),
            content_type: "application/pdf".into(),
            bytes: b"%PDF-1.7\n\x00\xff binary".to_vec(),
        };
        let payload = serde_json::json!({ "attachments": [file.to_payload()] });
        let back = attachments_of(&payload).unwrap();
        assert_eq!(back, vec![file.clone()], "the payload keeps the exact bytes");
        let raw =
            build_with(OutboxId::new(), &envelope(&[]), &rendered(), &back, SystemTime::now()).unwrap().formatted();
        let parsed = mail_parser::MessageParser::default().parse(&raw[..]).unwrap();
        let a = parsed.attachment(0).expect("one attachment");
        assert_eq!(a.attachment_name(), Some("INV-000001.pdf"));
        assert_eq!(a.contents(), &file.bytes[..]);
        assert!(parsed.body_html(0).is_some() && parsed.body_text(0).is_some(), "the bodies stay");
        assert!(attachments_of(&serde_json::json!({})).unwrap().is_empty());
        let broken = serde_json::json!({ "attachments": [{ "filename": "x", "content_type": "a/b", "base64": "!!" }] });
        assert!(attachments_of(&broken).is_err(), "a damaged payload is an error, not an empty file");
    }

    #[test]
    fn a_bad_recipient_is_an_error() {
        let mut env = envelope(&[]);
        env.to = "not an address".into();
        let e = build(OutboxId::new(), &env, &rendered(), SystemTime::now()).unwrap_err();
        assert!(matches!(e, MessageError::Address(..)), "{e}");
        let raw = build(OutboxId::new(), &envelope(&[]), &rendered(), SystemTime::now()).unwrap().formatted();
        assert!(!String::from_utf8_lossy(&raw).contains("In-Reply-To"), "a first message answers nothing");
    }
}
