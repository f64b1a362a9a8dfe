//! An application's email thread as a reviewer reads it: each kept message parsed again from
//! its stored bytes, newest last, its text with every extracted field marked where it was read
//! (provenance), and its attachments: a CSV shown as a table, an image shown only when its
//! bytes are the image type they claim, anything else offered as a download.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::Failure;
use crate::app::App;
use crate::domain::ApplicationId;
use crate::intake::mail::{self, AttachmentContents};
use crate::store::FieldRecord;

/// Rows and columns of a CSV attachment shown on the page (the download has them all).
pub const CSV_ROWS: usize = 50;
pub const CSV_COLUMNS: usize = 20;
const CSV_CELL_CHARS: usize = 200;
/// The longest message text shown; the rest is in the kept message.
const BODY_CHARS: usize = 20_000;

/// A run of a message's text, marked with the field read from it, if one was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Segment {
    pub text: String,
    pub field: Option<String>,
}

/// How the page shows an attachment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "shown", rename_all = "snake_case")]
pub enum Shown {
    /// A CSV's first rows (`more`: it has others).
    Table {
        rows: Vec<Vec<String>>,
        more: bool,
    },
    /// An image whose bytes are of the type named.
    Image {
        mime: &'static str,
    },
    Download,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachmentView {
    pub position: usize,
    pub filename: String,
    pub content_type: String,
    pub size: usize,
    #[serde(flatten)]
    pub shown: Shown,
}

/// One message of the thread.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThreadMessage {
    pub sha256: String,
    pub message_id: String,
    pub received_at: DateTime<Utc>,
    pub outcome: Option<String>,
    pub from: Option<String>,
    pub subject: Option<String>,
    /// Its text with provenance marks; empty when the bytes were not kept or do not parse.
    pub segments: Vec<Segment>,
    pub truncated: bool,
    pub attachments: Vec<AttachmentView>,
    /// Why the text cannot be shown, when it cannot.
    pub unreadable: Option<String>,
}

/// The thread of an application, oldest first.
pub async fn thread(app: &App, id: ApplicationId) -> Result<Vec<ThreadMessage>, Failure> {
    let store = app.store.as_ref();
    let fields = store.application_fields(id).await?;
    let mut out = Vec::new();
    for m in store.messages_for(id).await? {
        let raw = store.message_raw(id, &m.sha256).await?;
        let marks: Vec<FieldRecord> = fields.iter().filter(|f| f.message_id == m.message_id).cloned().collect();
        let base = ThreadMessage {
            sha256: m.sha256,
            message_id: m.message_id,
            received_at: m.received_at,
            outcome: m.outcome,
            from: None,
            subject: None,
            segments: Vec::new(),
            truncated: false,
            attachments: Vec::new(),
            unreadable: None,
        };
        let message = match raw {
            // Parsing a message of up to 25 MiB is CPU work: off the async workers.
            Some(raw) => {
                let fallback = base.clone();
                tokio::task::spawn_blocking(move || read(base, &raw, &marks)).await.unwrap_or_else(|e| ThreadMessage {
                    unreadable: Some(format!("the message could not be read: {e}")),
                    ..fallback
                })
            }
            None => ThreadMessage { unreadable: Some("the message's bytes were not kept".into()), ..base },
        };
        out.push(message);
    }
    Ok(out)
}

/// An attachment to download: its declared name and type, its bytes, and whether it may be
/// shown in the browser (only an image whose bytes are that image).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
    pub inline_image: Option<&'static str>,
}

/// Attachment `position` of the application's message `sha256`, if there is one.
pub async fn attachment(
    app: &App,
    id: ApplicationId,
    sha256: &str,
    position: usize,
) -> Result<Option<Download>, Failure> {
    let Some(raw) = app.store.message_raw(id, sha256).await? else { return Ok(None) };
    // Parsing never panics (it catches the parser's own), so the task cannot fail but by a
    // runtime shutting down: then there is nothing to serve.
    let parts = tokio::task::spawn_blocking(move || mail::attachment_contents(&raw)).await.unwrap_or_default();
    Ok(parts.into_iter().nth(position).map(|a| {
        let inline_image = image_type(&a.content_type, &a.bytes);
        Download { filename: filename_of(&a, position), content_type: a.content_type, bytes: a.bytes, inline_image }
    }))
}

fn read(base: ThreadMessage, raw: &[u8], marks: &[FieldRecord]) -> ThreadMessage {
    let (parsed, contents) = match mail::parse_with_contents(raw) {
        Ok(p) => p,
        Err(e) => return ThreadMessage { unreadable: Some(e.to_string()), ..base },
    };
    let (body, truncated) = match parsed.body.char_indices().nth(BODY_CHARS) {
        Some((cut, _)) => (&parsed.body[..cut], true),
        None => (parsed.body.as_str(), false),
    };
    let marks: Vec<(&str, &str)> = marks.iter().map(|f| (f.field.as_str(), f.excerpt.as_str())).collect();
    let attachments = contents
        .iter()
        .enumerate()
        .map(|(position, a)| AttachmentView {
            position,
            filename: filename_of(a, position),
            content_type: a.content_type.clone(),
            size: a.bytes.len(),
            shown: shown(a),
        })
        .collect();
    ThreadMessage {
        from: parsed.from,
        subject: Some(parsed.subject),
        segments: highlight(body, &marks),
        truncated,
        attachments,
        ..base
    }
}

/// The name to offer: the declared one without any path, or a made-up one.
fn filename_of(a: &AttachmentContents, position: usize) -> String {
    let declared = a.filename.as_deref().unwrap_or_default();
    let base = declared.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base.chars().filter(|c| !c.is_control() && *c != '"').take(120).collect();
    if clean.trim().is_empty() { format!("attachment-{}", position + 1) } else { clean }
}

fn shown(a: &AttachmentContents) -> Shown {
    let is_csv =
        a.content_type == "text/csv" || a.filename.as_deref().is_some_and(|n| n.to_ascii_lowercase().ends_with(".csv"));
    if is_csv && a.bytes.len() <= mail::MAX_CSV_BYTES {
        let (rows, more) = csv_table(&a.bytes);
        return Shown::Table { rows, more };
    }
    match image_type(&a.content_type, &a.bytes) {
        Some(mime) => Shown::Image { mime },
        None => Shown::Download,
    }
}

/// The first [`CSV_ROWS`] rows of a CSV (cells and columns capped), and whether more follow.
pub fn csv_table(bytes: &[u8]) -> (Vec<Vec<String>>, bool) {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
    let mut rows = Vec::new();
    for record in reader.byte_records() {
        let Ok(record) = record else { break };
        if rows.len() == CSV_ROWS {
            return (rows, true);
        }
        rows.push(
            record
                .iter()
                .take(CSV_COLUMNS)
                .map(|cell| String::from_utf8_lossy(cell).chars().take(CSV_CELL_CHARS).collect())
                .collect(),
        );
    }
    (rows, false)
}

/// The image type both declared and true of the bytes (PNG, JPEG, GIF or WebP); `None` for
/// anything else, SVG included (it can carry script).
pub fn image_type(declared: &str, bytes: &[u8]) -> Option<&'static str> {
    let sniffed = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        "image/jpeg"
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        "image/gif"
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        "image/webp"
    } else {
        return None;
    };
    let declared = if declared == "image/jpg" { "image/jpeg" } else { declared };
    (declared == sniffed).then_some(sniffed)
}

/// `body` cut into runs, each excerpt a field was read from marked with that field. An excerpt
/// not found in the text (read from the subject, say) marks nothing; where two overlap, the
/// one that starts first is marked.
pub fn highlight(body: &str, marks: &[(&str, &str)]) -> Vec<Segment> {
    let mut ranges: Vec<(usize, usize, &str)> = marks
        .iter()
        .filter(|(_, excerpt)| !excerpt.trim().is_empty())
        .filter_map(|(field, excerpt)| body.find(excerpt).map(|start| (start, start + excerpt.len(), *field)))
        .collect();
    ranges.sort_by_key(|&(start, end, _)| (start, std::cmp::Reverse(end)));
    let mut out = Vec::new();
    let mut at = 0;
    for (start, end, field) in ranges {
        if start < at {
            continue;
        }
        if start > at {
            out.push(Segment { text: body[at..start].to_string(), field: None });
        }
        out.push(Segment { text: body[start..end].to_string(), field: Some(field.to_string()) });
        at = end;
    }
    if at < body.len() || out.is_empty() {
        out.push(Segment { text: body[at..].to_string(), field: None });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(segments: &[Segment]) -> String {
        segments.iter().map(|s| s.text.as_str()).collect()
    }

    #[test]
    fn excerpts_are_marked_where_they_are_and_the_text_is_kept_whole() {
        let body = "Hello,\nCompany: Lumen Forge\nWebsite: https://lumenforge.io\nThanks";
        let segments = highlight(
            body,
            &[("website", "Website: https://lumenforge.io"), ("company", "Company: Lumen Forge"), ("x", "absent")],
        );
        assert_eq!(joined(&segments), body);
        let marked: Vec<_> = segments.iter().filter_map(|s| s.field.as_deref().map(|f| (f, s.text.as_str()))).collect();
        assert_eq!(marked, vec![("company", "Company: Lumen Forge"), ("website", "Website: https://lumenforge.io")]);
    }

    #[test]
    fn overlapping_excerpts_mark_the_first_and_multibyte_text_survives() {
        let body = "Société: Über GmbH, Straße 5";
        let segments = highlight(body, &[("company", "Société: Über GmbH"), ("name", "Über GmbH, Straße")]);
        assert_eq!(joined(&segments), body);
        assert_eq!(segments.iter().filter(|s| s.field.is_some()).count(), 1);
        assert_eq!(highlight("", &[("a", "")]), vec![Segment { text: String::new(), field: None }]);
    }

    #[test]
    fn an_image_is_inline_only_when_its_bytes_are_what_it_claims() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(image_type("image/png", png), Some("image/png"));
        assert_eq!(image_type("image/jpeg", png), None, "a PNG declared as JPEG");
        assert_eq!(image_type("image/png", b"<svg onload=alert(1)>"), None);
        assert_eq!(image_type("image/svg+xml", b"<svg/>"), None);
        assert_eq!(image_type("image/jpg", &[0xff, 0xd8, 0xff, 0xe0]), Some("image/jpeg"));
    }

    #[test]
    fn a_csv_shows_its_first_rows_capped() {
        let mut text = String::from("month,amount\n");
        for i in 0..60 {
            text.push_str(&format!("2026-{:02},{}\n", i % 12 + 1, i));
        }
        let (rows, more) = csv_table(text.as_bytes());
        assert_eq!(rows.len(), CSV_ROWS);
        assert!(more);
        assert_eq!(rows[0], vec!["month", "amount"]);
        let (rows, more) = csv_table(b"a,b\n1,\"2\n");
        assert!(!more && rows.len() <= 2);
    }

    #[test]
    fn a_declared_filename_loses_its_path_and_quotes() {
        let a = |name: &str| AttachmentContents {
            filename: Some(name.into()),
            content_type: "text/plain".into(),
            bytes: Vec::new(),
        };
        assert_eq!(filename_of(&a("../../etc/passwd"), 0), "passwd");
        assert_eq!(filename_of(&a("C:\\x\\bill\".csv"), 0), "bill.csv");
        assert_eq!(filename_of(&a("  "), 2), "attachment-3");
    }
}
