//! The HTML back-office, one module per page; each handler renders a template from
//! `templates/` with the context built here.

pub mod dashboard;
pub mod images;
pub mod login;
pub mod orders;
pub mod products;
pub mod publish;

use crate::session::Session;
use crate::templates::ASSETS;
use crate::{AdminState, AppError};
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tera::Context;

/// The context every page starts from: the shop's name and, when logged in, the user and the
/// CSRF token the page's forms send back.
fn context(state: &AdminState, session: Option<&Session>, nav: &str) -> Context {
    let mut ctx = Context::new();
    ctx.insert("shop_name", &state.site.shop_name);
    ctx.insert("nav", nav);
    ctx.insert("csrf", &session.map(|s| s.csrf.as_str()).unwrap_or(""));
    ctx.insert("user", &session.map(|s| s.user.as_str()).unwrap_or(""));
    ctx.insert("flash", "");
    ctx
}

/// A product id from the path; anything else is a page that does not exist.
fn product_id(raw: &str) -> Result<i64, AppError> {
    raw.parse().map_err(|_| AppError::NotFound)
}

pub async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=300"),
            ],
            *body,
        )
            .into_response(),
        None => AppError::NotFound.into_response(),
    }
}

pub async fn not_found() -> AppError {
    AppError::NotFound
}
