//! Sign-in, sign-out and the session every other page needs: an API token typed once becomes
//! a session named by an `HttpOnly`, `SameSite=Strict` cookie (`Secure` behind TLS), which
//! expires; each form sends the session's CSRF token back.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use cookie::{Cookie, SameSite};
use serde::Deserialize;

use super::page::{ConsoleError, Form, render};
use crate::app::App;
use crate::services::access::{self, Session};

/// The session cookie's name. `__Host-` would pin it to the host and to TLS, which a console
/// served over plain HTTP on a loopback address cannot use.
pub const COOKIE: &str = "creditline_session";

/// A signed-in reviewer: pages that take one send everyone else to the sign-in page.
pub struct Signed(pub Session);

impl FromRequestParts<Arc<App>> for Signed {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Signed, ConsoleError> {
        let value = session_cookie(&parts.headers).ok_or(ConsoleError::SignIn)?;
        let now = app.workflow.clock().now();
        Ok(Signed(access::session(app, &value, now).await?))
    }
}

/// The session cookie's value, if the request carries one.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_string())
}

impl Signed {
    /// Refuses a form whose CSRF token is not this session's.
    pub fn check(&self, csrf: &str) -> Result<(), ConsoleError> {
        if self.0.csrf_matches(csrf) { Ok(()) } else { Err(ConsoleError::Csrf) }
    }
}

/// Whether the browser reached us over TLS (directly or through a proxy that says so).
fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

fn set_cookie(response: &mut Response, cookie: Cookie<'_>) -> Result<(), ConsoleError> {
    let value = HeaderValue::from_str(&cookie.to_string()).map_err(|e| ConsoleError::Internal(e.to_string()))?;
    response.headers_mut().append(header::SET_COOKIE, value);
    Ok(())
}

pub async fn sign_in_page() -> Result<Html<String>, ConsoleError> {
    render("sign_in.html", minijinja::context! {})
}

/// Longest API token text accepted from the form (they are 4 + 12 + 1 + 64 characters).
const MAX_TOKEN: usize = 200;

#[derive(Deserialize)]
pub struct SignInForm {
    token: String,
}

/// The login form carries no CSRF token (there is no session yet): `SameSite=Strict` and the
/// token being a secret only its holder knows keep a forged sign-in from doing harm.
pub async fn sign_in(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, ConsoleError> {
    let now = app.workflow.clock().now();
    let refused = || {
        let page =
            render("sign_in.html", minijinja::context! { error => "That token is not valid (or was revoked)." })?;
        Ok::<_, ConsoleError>((axum::http::StatusCode::UNAUTHORIZED, page).into_response())
    };
    if form.token.len() > MAX_TOKEN {
        return refused();
    }
    let (value, session) = match access::sign_in(&app, &form.token, now).await {
        Ok(signed) => signed,
        Err(access::AccessError::Unauthenticated) => return refused(),
        Err(e) => return Err(e.into()),
    };
    signed_in(&headers, value, &session, now)
}

/// Where a new session goes: the queue, with the session's cookie.
fn signed_in(
    headers: &HeaderMap,
    value: String,
    session: &Session,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Response, ConsoleError> {
    let max_age = (session.expires_at - now).num_seconds();
    let cookie = Cookie::build((COOKIE, value))
        .path("/console")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(over_tls(headers))
        .max_age(cookie::time::Duration::seconds(max_age))
        .build();
    let mut response = Redirect::to("/console/queue").into_response();
    set_cookie(&mut response, cookie)?;
    Ok(response)
}

/// A one-time link's page: a button, because mail scanners and link previews open links by
/// GET and would otherwise use the link up before its owner does.
pub async fn link_page(Path(key): Path<String>) -> Result<Html<String>, ConsoleError> {
    if key.len() > MAX_TOKEN {
        return Err(ConsoleError::NotFound("no such link".into()));
    }
    render("link.html", minijinja::context! { key })
}

/// Signs in with a one-time link (made by `creditline console link --name N`).
pub async fn link_sign_in(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Result<Response, ConsoleError> {
    let now = app.workflow.clock().now();
    if key.len() > MAX_TOKEN {
        return Err(ConsoleError::NotFound("no such link".into()));
    }
    match access::sign_in_by_link(&app, &key, now).await {
        Ok((value, session)) => signed_in(&headers, value, &session, now),
        Err(access::AccessError::Unauthenticated) => {
            let page = render(
                "sign_in.html",
                minijinja::context! { error => "That sign-in link was used already, has expired or is not valid. Ask for a new one, or sign in with your token." },
            )?;
            Ok((axum::http::StatusCode::UNAUTHORIZED, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    /// Missing reads as empty, which no session has: refused as a CSRF failure.
    #[serde(default)]
    csrf: String,
}

pub async fn sign_out(
    State(app): State<Arc<App>>,
    signed: Signed,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ConsoleError> {
    signed.check(&form.csrf)?;
    access::sign_out(&app, &signed.0, app.workflow.clock().now()).await?;
    let mut response = Redirect::to("/console/sign-in").into_response();
    set_cookie(&mut response, Cookie::build((COOKIE, "")).path("/console").removal().build())?;
    Ok(response)
}
