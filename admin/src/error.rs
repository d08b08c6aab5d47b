//! [`AppError`]: what can go wrong in a request, answered as a page or as JSON.
//!
//! A client's mistake is answered with what to fix and not logged; an internal failure is
//! logged once, with its cause, and answered without details.

use crate::product_input::FieldErrors;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("there is no product {0}")]
    NoSuchProduct(i64),
    #[error("not found")]
    NotFound,
    #[error("the product is not valid: {0}")]
    Invalid(FieldErrors),
    #[error("the database failed")]
    Db(#[from] flashsale_core::db::DbError),
    #[error("the stock store failed")]
    Stock(#[from] flashsale_core::stock_sync::SyncError),
    #[error("the stock store failed")]
    StockStore(#[from] flashsale_core::stock::StockError),
    #[error("the waiting room store failed")]
    Room(#[from] flashsale_core::waiting_room::RoomError),
    #[error("rendering the site failed")]
    Publish(#[from] flashsale_sitegen::SitegenError),
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::NoSuchProduct(_) | AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Db(_)
            | AppError::Stock(_)
            | AppError::StockStore(_)
            | AppError::Room(_)
            | AppError::Publish(_)
            | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the client is told: the error itself for its mistakes, a generic line otherwise.
    fn public_message(&self) -> String {
        if self.status().is_server_error() {
            log_chain(self);
            match self {
                AppError::Publish(e) => format!("rendering the site failed: {e}"),
                _ => "internal error; the details are in the admin's log".to_string(),
            }
        } else {
            self.to_string()
        }
    }

    /// The answer of a JSON API route.
    pub fn into_json(self) -> Response {
        let status = self.status();
        let mut body = serde_json::json!({ "error": self.public_message() });
        if let AppError::Invalid(fields) = &self {
            body["fields"] = fields.as_json();
        }
        (status, Json(body)).into_response()
    }
}

fn log_chain(e: &(dyn std::error::Error + 'static)) {
    let mut chain = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    tracing::error!(error = %chain, "admin request failed");
}

/// An HTML page's error: a small page that says what happened and links back.
impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = tera::escape_html(&self.public_message());
        let page = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>{code} · Flashsale admin</title>\
             <link rel=\"stylesheet\" href=\"/static/admin.css\"></head>\
             <body><main class=\"wrap\"><h1>{code}</h1><p class=\"flash flash-error\">{message}</p>\
             <p><a href=\"/\">Back to the dashboard</a></p></main></body></html>",
            code = status.as_u16(),
        );
        (status, Html(page)).into_response()
    }
}

/// The error of a JSON route: same errors, JSON body.
pub struct ApiError(pub AppError);

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.into_json()
    }
}
