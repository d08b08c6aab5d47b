//! The middleware in front of every protected route (see [`crate::routes::ROUTES`]).
//!
//! - Pages need a live session; without one the browser is sent to `/login`. A page request
//!   that changes anything (any method but GET/HEAD) must also carry the session's CSRF token
//!   in its form, checked here so no handler can forget it.
//! - The API needs `Authorization: Bearer <admin_token>`, compared in constant time.

use crate::session::{self, same_secret, Session};
use crate::{AdminState, AppError};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use flashsale_core::domain::now_unix;

/// Forms are small; anything bigger is refused before it is read.
pub const FORM_LIMIT: usize = 64 * 1024;

pub async fn session(State(state): State<AdminState>, req: Request, next: Next) -> Response {
    let session = match session::cookie(req.headers(), session::COOKIE) {
        Some(token) => state.sessions.get(token, now_unix()).await,
        None => Ok(None),
    };
    let session = match session {
        Ok(Some(session)) => session,
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(e) => return AppError::from(e).into_response(),
    };
    let mut req = if matches!(*req.method(), Method::GET | Method::HEAD) {
        req
    } else {
        match check_csrf(req, &session).await {
            Ok(req) => req,
            Err(refused) => return refused,
        }
    };
    req.extensions_mut().insert(session);
    next.run(req).await
}

/// A script's request (an image upload) sends the token in this header instead of a form.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Checks the CSRF token: in the [`CSRF_HEADER`] when there is one (the body is not a form
/// then, and is left unread), else in the form's `csrf` field; hands the request on with the
/// same body.
async fn check_csrf(req: Request, session: &Session) -> Result<Request, Response> {
    if let Some(sent) = req.headers().get(CSRF_HEADER) {
        let ok = sent.to_str().is_ok_and(|s| same_secret(s, &session.csrf));
        return if ok { Ok(req) } else { Err(csrf_refused()) };
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, FORM_LIMIT).await.map_err(|_| {
        AppError::BadRequest(format!("the form is larger than {FORM_LIMIT} bytes")).into_response()
    })?;
    let sent = form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.into_owned());
    if !sent.is_some_and(|s| same_secret(&s, &session.csrf)) {
        return Err(csrf_refused());
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

fn csrf_refused() -> Response {
    let page = AppError::BadRequest(
        "this form expired or came from another site; reload the page and try again".into(),
    )
    .into_response();
    let (mut head, body) = page.into_parts();
    head.status = StatusCode::FORBIDDEN;
    Response::from_parts(head, body)
}

pub async fn token(State(state): State<AdminState>, req: Request, next: Next) -> Response {
    let sent = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match sent {
        Some(t) if same_secret(t, &state.credentials.api_token) => next.run(req).await,
        _ => {
            let mut refused = (
                StatusCode::UNAUTHORIZED,
                axum::Json(serde_json::json!({
                    "error": "unauthorized: send Authorization: Bearer <admin_token>"
                })),
            )
                .into_response();
            refused
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            refused
        }
    }
}

/// Headers on every answer: no framing, no sniffing, scripts and styles only from the admin
/// itself, and nothing kept in shared caches.
pub async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    let set = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data: blob: http: https:; style-src 'self'; \
             script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; \
             base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    for (name, value) in set {
        h.insert(name, HeaderValue::from_static(value));
    }
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}
