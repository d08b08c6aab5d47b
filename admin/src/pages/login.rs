//! Logging in and out. Attempts are throttled per user name and per address before the
//! password is even hashed; every failure gets the same message.

use super::context;
use crate::session::{self, same_secret};
use crate::throttle::Throttle;
use crate::{AdminState, AppError};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long the login form's CSRF cookie lasts.
const LOGIN_FORM_TTL: Duration = Duration::from_secs(3600);

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

pub async fn form(State(state): State<AdminState>) -> Response {
    login_page(&state, StatusCode::OK, "", "")
}

/// The login form with a fresh CSRF token, in the page and in its cookie.
fn login_page(state: &AdminState, status: StatusCode, error: &str, user_name: &str) -> Response {
    let token = session::random_token();
    let mut ctx = context(state, None, "login");
    ctx.insert("login_csrf", &token);
    ctx.insert("error", error);
    ctx.insert("user_name", user_name);
    match state.templates.render("login.html", &ctx) {
        Ok(page) => (
            status,
            [(
                header::SET_COOKIE,
                session::set_cookie(session::LOGIN_COOKIE, &token, LOGIN_FORM_TTL),
            )],
            page,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn submit(
    State(state): State<AdminState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let form_ok = session::cookie(&headers, session::LOGIN_COOKIE)
        .is_some_and(|c| !form.csrf.is_empty() && same_secret(c, &form.csrf));
    if !form_ok {
        return login_page(
            &state,
            StatusCode::FORBIDDEN,
            "The login form expired; please try again.",
            &form.user,
        );
    }
    let now = Instant::now();
    let ip = peer.map_or_else(|| "unknown".to_string(), |p| p.0 .0.ip().to_string());
    let keys = Throttle::keys(&form.user, &ip);
    if let Some(wait) = state.throttle.wait_for(&form.user, &ip, now) {
        let secs = wait.as_secs().max(1);
        let mut page = login_page(
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many failed attempts. Try again in {secs} seconds."),
            &form.user,
        );
        if let Ok(v) = secs.to_string().parse() {
            page.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return page;
    }

    let matched = match check_password(&state, form.user.trim(), &form.password).await {
        Ok(matched) => matched,
        Err(e) => return e.into_response(),
    };
    if !matched {
        state.throttle.failed(&keys, now);
        tracing::info!(%ip, "admin login failed");
        return login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            "Wrong user name or password.",
            &form.user,
        );
    }
    state.throttle.logged_in(&form.user, &ip, now);
    let token = match state
        .sessions
        .create(&state.credentials.user, flashsale_core::domain::now_unix())
        .await
    {
        Ok(token) => token,
        Err(e) => return AppError::from(e).into_response(),
    };
    tracing::info!(%ip, "admin logged in");
    let mut res = Redirect::to("/").into_response();
    let h = res.headers_mut();
    for cookie in [
        session::set_cookie(session::COOKIE, &token, session::TTL),
        session::clear_cookie(session::LOGIN_COOKIE),
    ] {
        if let Ok(v) = cookie.parse() {
            h.append(header::SET_COOKIE, v);
        }
    }
    res
}

/// Argon2 on the blocking pool, a few at a time.
async fn check_password(state: &AdminState, user: &str, password: &str) -> Result<bool, AppError> {
    let _permit = state
        .hashing
        .acquire()
        .await
        .map_err(|_| AppError::Internal("the password check was interrupted".into()))?;
    let credentials = state.credentials.clone();
    let (user, password) = (user.to_string(), password.to_string());
    tokio::task::spawn_blocking(move || credentials.check(&user, &password))
        .await
        .map_err(|e| AppError::Internal(format!("the password check failed: {e}")))
}

pub async fn logout(State(state): State<AdminState>, headers: HeaderMap) -> Response {
    if let Some(token) = session::cookie(&headers, session::COOKIE) {
        if let Err(e) = state.sessions.remove(token).await {
            return AppError::from(e).into_response();
        }
    }
    (
        [(header::SET_COOKIE, session::clear_cookie(session::COOKIE))],
        Redirect::to("/login"),
    )
        .into_response()
}
