//! Republish: renders the catalogue into the shop's pages and lists what changed.

use super::context;
use crate::catalog;
use crate::session::Session;
use crate::{AdminState, AppError};
use axum::extract::State;
use axum::response::Html;
use axum::Extension;

pub async fn page(
    State(state): State<AdminState>,
    Extension(session): Extension<Session>,
) -> Result<Html<String>, AppError> {
    let last = state.last_publish.lock().await.clone();
    let mut ctx = context(&state, Some(&session), "publish");
    ctx.insert("summary", &last.as_ref().map(catalog::summary_json));
    ctx.insert("fresh", &false);
    state.templates.render("publish.html", &ctx)
}

pub async fn run(
    State(state): State<AdminState>,
    Extension(session): Extension<Session>,
) -> Result<Html<String>, AppError> {
    let summary = catalog::publish(&state).await?;
    let mut ctx = context(&state, Some(&session), "publish");
    ctx.insert("summary", &catalog::summary_json(&summary));
    ctx.insert("fresh", &true);
    state.templates.render("publish.html", &ctx)
}
