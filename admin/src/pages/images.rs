//! `POST /products/image`: the product form's image upload. The page's script sends the file
//! as the request body (its name in `X-File-Name`, URL-encoded; the CSRF token in
//! `X-CSRF-Token`) and puts the answer's `url` into the image field; a refusal's `error` is
//! shown beside the field.

use crate::upload::{self, UploadError};
use crate::{AdminState, AppError};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use serde_json::json;

pub const PATH: &str = "/products/image";
/// The most the route reads: more than [`upload::MAX_BYTES`], so an image a little too big
/// is answered with its size rather than cut off.
pub const BODY_LIMIT: usize = 8 * 1024 * 1024;

pub async fn upload(
    State(state): State<AdminState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let name = headers
        .get("x-file-name")
        .and_then(|v| v.to_str().ok())
        .map(|raw| {
            percent_encoding::percent_decode_str(raw)
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    let kind = match upload::check(&body, &name) {
        Ok(kind) => kind,
        Err(e) => {
            let status = match e {
                UploadError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                UploadError::Empty | UploadError::NotAnImage { .. } => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
            };
            return Ok((status, Json(json!({ "error": e.to_string() }))).into_response());
        }
    };
    let Some(dir) = state.site.uploads.clone() else {
        return Err(AppError::Internal(
            "image uploads need a directory (SiteOptions::uploads)".into(),
        ));
    };
    let stored = upload::stored_name(&name, kind, &body);
    let file = stored.clone();
    tokio::task::spawn_blocking(move || upload::store(&dir, &file, &body))
        .await
        .map_err(|e| AppError::Internal(format!("storing an upload: {e}")))?
        .map_err(|e| AppError::Internal(format!("storing the upload {stored}: {e}")))?;
    tracing::info!(image = %stored, "image uploaded");
    Ok(Json(json!({ "url": format!("/{}/{stored}", flashsale_sitegen::UPLOADS) })).into_response())
}
