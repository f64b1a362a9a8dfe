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
