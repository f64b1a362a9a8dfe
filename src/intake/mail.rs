//! One inbound message, parsed (mail-parser) into what intake needs: identity, sender,
//! thread headers, auto-reply signals, the readable text of the part that matters (the
//! forwarded message when there is one) and the attachments. Pure: bytes in, value out.

use chrono::{DateTime, Utc};
use mail_parser::{Message, MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};

use super::text;

/// Larger messages are rejected before parsing.
pub const MAX_MESSAGE_BYTES: usize = 25 * 1024 * 1024;
/// Caps on the MIME tree: real application mail has a handful of parts.
pub const MAX_PARTS: usize = 200;
pub const MAX_DEPTH: usize = 8;
/// Billing CSVs larger than this are stored but not read as evidence.
pub const MAX_CSV_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    #[error("message too large: {size} bytes, over the 25 MiB limit ({max} bytes)")]
    TooLarge { size: usize, max: usize },
    #[error("not a mail message: no header could be read")]
    Unreadable,
    #[error("the MIME structure could not be parsed")]
    ParserFailed,
    #[error("message has {0} MIME parts, more than the {MAX_PARTS} allowed")]
    TooManyParts(usize),
    #[error("message nests MIME parts {0} levels deep, more than the {MAX_DEPTH} allowed")]
    TooDeep(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    pub filename: Option<String>,
    pub content_type: String,
    pub size: usize,
    pub sha256: String,
    /// The text of a CSV attachment small enough to read as evidence.
    pub csv: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Mail {
    /// Without angle brackets. Synthesised from the content hash when the header is absent.
    pub message_id: String,
    pub sha256: String,
    /// Lower-cased sender address (of the forwarded message when this one forwards it).
    pub from: Option<String>,
    pub from_name: Option<String>,
    /// The address that actually sent this message (the forwarder, for a forward).
    pub envelope_from: Option<String>,
    pub subject: String,
    pub date: Option<DateTime<Utc>>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// Why this looks machine-generated (auto-reply, bounce, bulk), if it does.
    pub auto_reply: Option<String>,
    /// The new text of the message: decoded, HTML turned to text, quotes and signature removed.
    pub body: String,
    pub forwarded: bool,
    pub attachments: Vec<Attachment>,
    /// The raw values of this message's `Authentication-Results` headers, top first (who
    /// may be trusted is decided later, against the configured `authserv-id`).
    pub authentication_results: Vec<String>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The Message-ID from the header block, read without parsing the message (it is the key
/// the raw bytes are kept under before anything else happens).
pub fn header_message_id(raw: &[u8]) -> Option<String> {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").or_else(|| raw.windows(2).position(|w| w == b"\n\n"));
    let head = &raw[..head_end.unwrap_or(raw.len().min(64 * 1024))];
    let text = String::from_utf8_lossy(head);
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some((name, value)) = line.split_once(':') else { continue };
        if !name.trim().eq_ignore_ascii_case("message-id") {
            continue;
        }
        let mut value = value.trim().to_string();
        while let Some(next) = lines.peek().filter(|l| l.starts_with([' ', '\t'])) {
            value.push_str(next.trim());
            lines.next();
        }
        let id = strip_nul(&value).trim().trim_matches(['<', '>']).trim().to_string();
        return (!id.is_empty() && id.len() <= 998).then_some(id);
    }
    None
}

/// Parses a raw message. Never panics on any input; the size check comes first.
pub fn parse(raw: &[u8]) -> Result<Mail, MailError> {
    if raw.len() > MAX_MESSAGE_BYTES {
        return Err(MailError::TooLarge { size: raw.len(), max: MAX_MESSAGE_BYTES });
    }
    // mail-parser checks an internal invariant with `debug_assert!` that some malformed
    // multipart mail breaks (an empty message/rfc822 part followed by more parts; found by the
    // property tests). Whatever the parser does, a message must get an outcome, never take the
    // process down.
    std::panic::catch_unwind(|| {
        let message = MessageParser::default().parse(raw).ok_or(MailError::Unreadable)?;
        mail_of(raw, &message)
    })
    .unwrap_or(Err(MailError::ParserFailed))
}

/// [`parse`] and [`attachment_contents`] from one parse of the bytes (a reviewer's thread view
/// wants both).
pub fn parse_with_contents(raw: &[u8]) -> Result<(Mail, Vec<AttachmentContents>), MailError> {
    if raw.len() > MAX_MESSAGE_BYTES {
        return Err(MailError::TooLarge { size: raw.len(), max: MAX_MESSAGE_BYTES });
    }
    // Guarded as `parse` is.
    std::panic::catch_unwind(|| {
        let message = MessageParser::default().parse(raw).ok_or(MailError::Unreadable)?;
        Ok((mail_of(raw, &message)?, contents_of(&message)))
    })
    .unwrap_or(Err(MailError::ParserFailed))
}

fn mail_of(raw: &[u8], message: &mail_parser::Message<'_>) -> Result<Mail, MailError> {
    let sha256 = sha256_hex(raw);
    if message.headers().is_empty() {
        return Err(MailError::Unreadable);
    }
    let parts = count_parts(message, 0)?;
    if parts > MAX_PARTS {
        return Err(MailError::TooManyParts(parts));
    }

    let message_id = message
        .message_id()
        .map(|s| strip_nul(s).trim().trim_matches(['<', '>']).to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("{sha256}@no-message-id.invalid"));
    let (from, from_name) = sender(message);
    let subject = message.subject().unwrap_or_default().trim().to_string();
    let date = message.date().and_then(|d| DateTime::from_timestamp(d.to_timestamp(), 0));
    let auto_reply = auto_reply_signal(message, &subject, from.as_deref());

    let own_text = readable_text(message);
    // A forward as an attached message (message/rfc822) or inline ("Forwarded message").
    let attached = message.attachments().find_map(|p| p.message());
    let (text_source, forwarded_from, forwarded) = match attached {
        Some(inner) if text::is_forward(&subject, &own_text) || text::clean(&own_text).trim().len() < 400 => {
            let inner_text = readable_text(inner);
            let inner_from = sender(inner);
            (inner_text, inner_from, true)
        }
        _ => match text::split_inline_forward(&own_text) {
            Some(fwd) => (fwd.body, (fwd.from, fwd.from_name), true),
            None => (own_text, (None, None), false),
        },
    };
    let body = text::clean(&text_source);

    let attachments = message.attachments().filter(|p| p.message().is_none()).map(attachment).collect();
    let envelope_from = from.clone();
    let (from, from_name) = if forwarded && forwarded_from.0.is_some() { forwarded_from } else { (from, from_name) };
    let mail = Mail {
        message_id,
        sha256,
        from,
        from_name,
        envelope_from,
        subject,
        date,
        in_reply_to: ids(message.in_reply_to()),
        references: ids(message.references()),
        auto_reply,
        body,
        forwarded,
        attachments,
        authentication_results: authentication_results(message),
    };
    Ok(mail.without_nul())
}

/// `text` without NUL characters. PostgreSQL's `text` and `jsonb` cannot hold U+0000 (the
/// whole statement fails), and no person writes one: a NUL in mail is damage or an attack.
pub fn strip_nul(text: &str) -> String {
    text.replace('\0', "")
}

impl Mail {
    /// Every text field with NUL removed, so nothing read from a message can make a store
    /// refuse the write that records its outcome (the raw bytes are kept as they came).
    fn without_nul(self) -> Mail {
        let opt = |o: Option<String>| o.map(|s| strip_nul(&s));
        let list = |l: Vec<String>| l.iter().map(|s| strip_nul(s)).filter(|s| !s.is_empty()).collect();
        Mail {
            message_id: strip_nul(&self.message_id),
            sha256: self.sha256,
            from: opt(self.from),
            from_name: opt(self.from_name),
            envelope_from: opt(self.envelope_from),
            subject: strip_nul(&self.subject),
            date: self.date,
            in_reply_to: list(self.in_reply_to),
            references: list(self.references),
            auto_reply: opt(self.auto_reply),
            body: strip_nul(&self.body),
            forwarded: self.forwarded,
            authentication_results: list(self.authentication_results),
            attachments: self
                .attachments
                .into_iter()
                .map(|a| Attachment {
                    filename: a.filename.map(|f| strip_nul(&f)),
                    content_type: strip_nul(&a.content_type),
                    csv: a.csv.map(|c| strip_nul(&c)),
                    ..a
                })
                .collect(),
        }
    }
}

/// The text a person reads: the text/plain body, or for HTML-only mail the HTML turned into
/// lines. mail-parser's own conversion runs list items and table cells together on one line,
/// which would merge every labelled field ("Website: ... Product: ...") into the first.
fn readable_text(message: &Message<'_>) -> String {
    let html_only = message
        .text_body
        .first()
        .and_then(|i| message.parts.get(*i as usize))
        .is_some_and(|p| matches!(p.body, mail_parser::PartType::Html(_)));
    if html_only && let Some(html) = message.body_html(0) {
        return nanohtml2text::html2text(&html);
    }
    message.body_text(0).map(|t| t.into_owned()).unwrap_or_default()
}

fn count_parts(message: &Message<'_>, depth: usize) -> Result<usize, MailError> {
    if depth > MAX_DEPTH {
        return Err(MailError::TooDeep(depth));
    }
    let mut total = message.parts.len();
    let mut deepest = 0;
    depth_of(message, 0, 0, &mut deepest);
    if depth + deepest > MAX_DEPTH {
        return Err(MailError::TooDeep(depth + deepest));
    }
    for part in &message.parts {
        if let Some(inner) = part.message() {
            total += count_parts(inner, depth + deepest + 1)?;
        }
        if total > MAX_PARTS {
            break;
        }
    }
    Ok(total)
}

fn depth_of(message: &Message<'_>, part: usize, level: usize, deepest: &mut usize) {
    *deepest = (*deepest).max(level);
    if level > MAX_DEPTH {
        return;
    }
    if let Some(children) = message.parts.get(part).and_then(|p| p.sub_parts()) {
        for &child in children {
            // Children always come after their parent; anything else would be a cycle.
            if child as usize > part {
                depth_of(message, child as usize, level + 1, deepest);
            }
        }
    }
}

fn sender(message: &Message<'_>) -> (Option<String>, Option<String>) {
    let first = message.from().and_then(|a| a.first());
    let address = first.and_then(|a| a.address()).map(|a| a.trim().to_lowercase()).filter(|a| a.contains('@'));
    let name = first.and_then(|a| a.name()).map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    (address, name)
}

/// Most `Authentication-Results` headers kept: each hop may add one, a message has a few.
const MAX_AUTH_RESULTS: usize = 16;

fn authentication_results(message: &Message<'_>) -> Vec<String> {
    message
        .headers()
        .iter()
        .filter(|h| h.name.as_str().eq_ignore_ascii_case("authentication-results"))
        .filter_map(|h| message.raw_message.get(h.offset_start as usize..h.offset_end as usize))
        .map(|raw| String::from_utf8_lossy(raw).trim().to_string())
        .take(MAX_AUTH_RESULTS)
        .collect()
}

fn ids(value: &mail_parser::HeaderValue<'_>) -> Vec<String> {
    let list: Vec<String> = match value {
        mail_parser::HeaderValue::Text(t) => vec![t.to_string()],
        mail_parser::HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
        _ => Vec::new(),
    };
    list.into_iter().map(|s| s.trim().trim_matches(['<', '>']).to_string()).filter(|s| !s.is_empty()).collect()
}

/// RFC 3834 and the common vendor headers, bounces, and out-of-office subjects.
fn auto_reply_signal(message: &Message<'_>, subject: &str, from: Option<&str>) -> Option<String> {
    let header = |name: &str| message.header_raw(name).map(|v| v.trim().to_ascii_lowercase());
    if let Some(v) = header("Auto-Submitted")
        && !v.is_empty()
        && !v.starts_with("no")
    {
        return Some(format!("Auto-Submitted: {v}"));
    }
    for name in ["X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress"] {
        if let Some(v) = header(name) {
            if name == "X-Auto-Response-Suppress" && !v.contains("oof") && v != "all" {
                continue;
            }
            return Some(format!("{name}: {v}"));
        }
    }
    if let Some(v) = header("Precedence")
        && ["bulk", "junk", "list", "auto_reply"].contains(&v.as_str())
    {
        return Some(format!("Precedence: {v}"));
    }
    // RFC 3834 section 2: never answer a message with a null reverse path (bounces and other
    // automatic mail) or one sent through a mailing list.
    if header("Return-Path").is_some_and(|v| v.trim_matches(['<', '>', ' ']).is_empty()) {
        return Some("Return-Path: <>".into());
    }
    if let Some(v) = header("List-Id") {
        return Some(format!("List-Id: {v}"));
    }
    if let Some(from) = from {
        let local = from.split('@').next().unwrap_or_default();
        if ["mailer-daemon", "postmaster", "no-reply", "noreply", "do-not-reply", "donotreply"].contains(&local) {
            return Some(format!("sent by {from}"));
        }
    }
    if message.content_type().is_some_and(|ct| ct.attribute("report-type") == Some("delivery-status")) {
        return Some("delivery status report".into());
    }
    text::out_of_office_subject(subject).then(|| format!("out-of-office subject: {subject}"))
}

/// An attachment's bytes as the message carries them, with the name and type it declares.
#[derive(Debug, Clone, PartialEq)]
pub struct AttachmentContents {
    pub filename: Option<String>,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// The attachments of a raw message, in the order (the `position`) intake recorded them.
/// Never panics; a message that does not parse has none.
pub fn attachment_contents(raw: &[u8]) -> Vec<AttachmentContents> {
    if raw.len() > MAX_MESSAGE_BYTES {
        return Vec::new();
    }
    std::panic::catch_unwind(|| MessageParser::default().parse(raw).map(|m| contents_of(&m)).unwrap_or_default())
        .unwrap_or_default()
}

fn contents_of(message: &mail_parser::Message<'_>) -> Vec<AttachmentContents> {
    message
        .attachments()
        .filter(|p| p.message().is_none())
        .map(|part| AttachmentContents {
            filename: part.attachment_name().map(strip_nul),
            content_type: content_type(part),
            bytes: part.contents().to_vec(),
        })
        .collect()
}

fn content_type(part: &mail_parser::MessagePart<'_>) -> String {
    part.content_type()
        .map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_string(),
        })
        .unwrap_or_else(|| "application/octet-stream".into())
        .to_ascii_lowercase()
}

fn attachment(part: &mail_parser::MessagePart<'_>) -> Attachment {
    let content_type = content_type(part);
    let filename = part.attachment_name().map(str::to_string);
    let bytes = part.contents();
    let is_csv =
        content_type == "text/csv" || filename.as_deref().is_some_and(|n| n.to_ascii_lowercase().ends_with(".csv"));
    let csv = (is_csv && bytes.len() <= MAX_CSV_BYTES).then(|| String::from_utf8_lossy(bytes).into_owned());
    Attachment { filename, content_type, size: bytes.len(), sha256: sha256_hex(bytes), csv }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_is_rejected_before_parsing() {
        let raw = vec![b'a'; MAX_MESSAGE_BYTES + 1];
        assert_eq!(parse(&raw), Err(MailError::TooLarge { size: MAX_MESSAGE_BYTES + 1, max: MAX_MESSAGE_BYTES }));
    }

    #[test]
    fn headers_and_body_are_read() {
        let raw = b"Message-ID: <a@b>\r\nFrom: Ann <Ann@Example.COM>\r\nSubject: Hi\r\nIn-Reply-To: <x@y>\r\n\r\nHello\r\n> old\r\n";
        let m = parse(raw).unwrap();
        assert_eq!(m.message_id, "a@b");
        assert_eq!(m.from.as_deref(), Some("ann@example.com"));
        assert_eq!(m.in_reply_to, vec!["x@y".to_string()]);
        assert_eq!(m.body.trim(), "Hello");
        assert!(m.auto_reply.is_none());
    }
}
