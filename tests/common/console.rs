//! The console over plain HTTP as a browser would use it: a session cookie from the sign-in
//! form, forms posted urlencoded with the page's CSRF token. Included by the console tests
//! with `#[path = "common/console.rs"] mod console_client;` (next to `mod common;`).
#![allow(dead_code)]

use crate::common::{Api, Response};

/// The session cookie (`name=value`) a sign-in set, if any.
pub fn session_cookie(r: &Response) -> Option<String> {
    r.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.split(';').next().unwrap_or_default().trim().to_string())
        .find(|c| c.starts_with("creditline_session=") && c.len() > "creditline_session=".len())
}

pub fn body(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// The CSRF token the page's forms carry.
pub fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + "name=\"csrf\" value=\"".len();
    page[at..].split('"').next().unwrap_or_default().to_string()
}

pub fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    pairs
        .iter()
        .map(|(k, v)| {
            format!("{k}={}", v.replace('%', "%25").replace('&', "%26").replace('+', "%2B").replace(' ', "+"))
        })
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

/// A browser-like client: a session cookie once signed in.
pub struct Browser<'a> {
    pub api: &'a Api,
    pub cookie: String,
}

impl<'a> Browser<'a> {
    pub fn sign_in(api: &'a Api, token: &str) -> Browser<'a> {
        let r = post_form(api, None, "/console/sign-in", &[("token", token)]);
        assert_eq!(r.status, 303, "{}", body(&r));
        assert_eq!(r.header("location"), Some("/console/queue"));
        Browser { api, cookie: session_cookie(&r).expect("a session cookie") }
    }

    pub fn get(&self, path: &str) -> Response {
        self.api.call("GET", path, None, &[("Cookie", &self.cookie)])
    }

    pub fn page(&self, path: &str) -> String {
        let r = self.get(path);
        assert_eq!(r.status, 200, "{path}: {}", body(&r));
        body(&r)
    }

    pub fn post(&self, path: &str, pairs: &[(&str, &str)]) -> Response {
        post_form(self.api, Some(&self.cookie), path, pairs)
    }
}

pub fn post_form(api: &Api, cookie: Option<&str>, path: &str, pairs: &[(&str, &str)]) -> Response {
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    if let Some(c) = cookie {
        headers.push(("Cookie", c));
    }
    api.send("POST", path, None, &headers, &form(pairs))
}

/// Posts a shared sample (`../shared/samples/inbox/<name>`) to the inbox API.
pub fn post_sample(api: &Api, name: &str) {
    let path = crate::common::repo().join("../shared/samples/inbox").join(name);
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let r = api.send("POST", "/api/v1/inbox/messages", Some(&api.inbox), &[("Content-Type", "message/rfc822")], &raw);
    assert!(r.status == 201 || r.status == 200, "{name}: {}", body(&r));
}

/// Posts a raw message to the inbox API.
pub fn post_raw(api: &Api, raw: &str) {
    let r = api.send(
        "POST",
        "/api/v1/inbox/messages",
        Some(&api.inbox),
        &[("Content-Type", "message/rfc822")],
        raw.as_bytes(),
    );
    assert!(r.status == 201 || r.status == 200, "{}", body(&r));
}

/// A 1×1 PNG.
pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\xff\xff?\0\x05\xfe\x02\xfe\xa7\x35\x81\x84\0\0\0\0IEND\xaeB`\x82";

/// An AWS billing export of five months (June to October 2026, highest $2,702.35).
pub const AWS_CSV: &str = "\"InvoiceID\",\"PayerAccountId\",\"BillingPeriodStartDate\",\"TotalAmount\",\"CurrencyCode\"\n\
    \"EU-001\",\"482199371204\",\"2026/06/01\",\"2,310.55\",\"USD\"\n\"EU-002\",\"482199371204\",\"2026/07/01\",\"2,480.10\",\"USD\"\n\
    \"EU-003\",\"482199371204\",\"2026/08/01\",\"2,120.00\",\"USD\"\n\"EU-004\",\"482199371204\",\"2026/09/01\",\"2,655.90\",\"USD\"\n\
    \"EU-005\",\"482199371204\",\"2026/10/01\",\"2,702.35\",\"USD\"\n";

/// An individual developer's application (it goes to review) from `account`, with a
/// `<script>` in its product line and these attachments (name, type, bytes).
pub fn application_mail(account: &str, attachments: &[(&str, &str, &[u8])]) -> String {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut mail = format!(
        "Message-ID: <{account}.1@mail.test>\r\nDate: Mon, 16 Nov 2026 10:00:00 +0000\r\n\
         From: Kai Dev <{account}>\r\nTo: support@wavespeed.ai\r\n\
         Subject: credit line request <script>alert(1)</script>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Hi,\r\n\r\nI'm an independent developer and I'd like a monthly credit line.\r\n\r\n\
         - Account email: {account}\r\n- I'm applying as an individual user\r\n\
         - Product: Pixelbloom, an iOS app <script>alert(2)</script> that restores photos\r\n\
         - Website: https://pixelbloom.app\r\n- App download: https://apps.apple.com/app/pixelbloom/id6477120499\r\n\
         - AWS account: yes, since 2022, usually $40-60 a month\r\n\
         - Expected usage about $120/month, requesting $200/month\r\n\r\nThanks!\r\nKai\r\n"
    );
    for (name, content_type, bytes) in attachments {
        mail.push_str(&format!(
            "\r\n--b\r\nContent-Type: {content_type}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            b64(bytes)
        ));
    }
    mail.push_str("--b--\r\n");
    mail
}
