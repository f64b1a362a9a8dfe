//! An applicant's attachments, served from the kept message: always as a download, unless the
//! bytes are an image of the type they claim (then shown inline, with that type). Nothing the
//! applicant sent is ever served as HTML, script or SVG.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::page::ConsoleError;
use super::queue::REVIEWERS;
use super::session::Signed;
use crate::app::App;
use crate::domain::ApplicationId;
use crate::services::thread;

/// RFC 5987 `attr-char`s stay as they are; everything else is percent-encoded.
const ATTR: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

pub async fn attachment(
    State(app): State<Arc<App>>,
    signed: Signed,
    Path((id, sha256, position)): Path<(String, String, String)>,
) -> Result<Response, ConsoleError> {
    signed.require(REVIEWERS)?;
    let not_found = || ConsoleError::NotFound("no such attachment".into());
    let application: ApplicationId = id.parse().map_err(|_| not_found())?;
    let position: usize = position.parse().map_err(|_| not_found())?;
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_found());
    }
    let download = thread::attachment(&app, application, &sha256, position).await?.ok_or_else(not_found)?;
    let (content_type, disposition) = match download.inline_image {
        Some(mime) => (mime.to_string(), "inline"),
        // text/csv is shown as a table on the page already; the file itself is downloaded.
        None => (safe_type(&download.content_type), "attachment"),
    };
    let content_type =
        HeaderValue::from_str(&content_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let disposition = HeaderValue::from_str(&content_disposition(disposition, &download.filename))
        .map_err(|e| ConsoleError::Internal(e.to_string()))?;
    let mut response = download.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CONTENT_DISPOSITION, disposition);
    // Even a "safe" file runs nothing: no script, no plugins, its own origin.
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    Ok(response)
}

/// The declared type when it is a plain `type/subtype` token that is neither markup nor an
/// image (an image whose bytes matched is served before this); anything else is bytes.
fn safe_type(declared: &str) -> String {
    let ok = declared.split_once('/').is_some_and(|(t, s)| {
        let token = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
        token(t) && token(s)
    });
    let markup = ["html", "svg", "xml"].iter().any(|m| declared.contains(m));
    if ok && !markup && !declared.starts_with("image/") {
        declared.to_string()
    } else {
        "application/octet-stream".into()
    }
}

/// `attachment; filename="plain ascii"; filename*=UTF-8''percent-encoded` (RFC 6266).
pub fn content_disposition(kind: &str, filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' })
        .collect();
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{}", utf8_percent_encode(filename, ATTR))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filename_is_quoted_safely_and_kept_in_utf8() {
        assert_eq!(
            content_disposition("attachment", "Rechnung März \"x\".csv"),
            "attachment; filename=\"Rechnung M_rz _x_.csv\"; filename*=UTF-8''Rechnung%20M%C3%A4rz%20%22x%22.csv"
        );
    }

    #[test]
    fn only_plain_non_markup_types_are_passed_through() {
        assert_eq!(safe_type("application/pdf"), "application/pdf");
        assert_eq!(safe_type("text/html"), "application/octet-stream");
        assert_eq!(safe_type("image/svg+xml"), "application/octet-stream");
        assert_eq!(safe_type("image/png"), "application/octet-stream", "bytes that are not the PNG claimed");
        assert_eq!(safe_type("text/plain; charset=\"x\r\n\""), "application/octet-stream");
    }
}
