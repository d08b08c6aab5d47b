//! The JSON API under `/api/` (DESIGN.md): the pages' operations for scripts, authorised by
//! the bearer token (see `guard`). Errors are `{"error": "…"}`, with `fields` for an invalid
//! product.

use crate::catalog;
use crate::error::ApiError;
use crate::pages::orders::{page_of, pages, OrdersQuery, PER_PAGE};
use crate::product_input::{ProductBody, ProductForm, ProductJson, Times};
use crate::{AdminState, AppError};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

type ApiResult<T> = Result<T, ApiError>;

fn product_id(raw: &str) -> Result<i64, AppError> {
    raw.parse()
        .map_err(|_| AppError::BadRequest(format!("a product id is a whole number, not {raw:?}")))
}

/// The body as a product, with what is wrong with it said plainly.
fn product_body(body: Result<Json<ProductBody>, JsonRejection>) -> Result<ProductForm, AppError> {
    match body {
        Ok(Json(b)) => Ok(b.into()),
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(AppError::TooLarge(format!(
            "the body is larger than {} bytes",
            crate::routes::BODY_LIMIT
        ))),
        Err(e) => Err(AppError::BadRequest(e.body_text())),
    }
}

pub async fn list_products(State(state): State<AdminState>) -> ApiResult<Json<Vec<ProductJson>>> {
    let products = state.db.list_products().await?;
    Ok(Json(products.iter().map(ProductJson::from).collect()))
}

pub async fn get_product(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> ApiResult<Json<ProductJson>> {
    let id = product_id(&id)?;
    let product = state
        .db
        .get_product(id)
        .await?
        .ok_or(AppError::NoSuchProduct(id))?;
    Ok(Json(ProductJson::from(&product)))
}

pub async fn create_product(
    State(state): State<AdminState>,
    body: Result<Json<ProductBody>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<ProductJson>)> {
    let new = product_body(body)?
        .validate_with(state.default_admit_per_second, Times::Rfc3339)
        .map_err(AppError::Invalid)?;
    let product = catalog::create(&state, &new).await?;
    Ok((StatusCode::CREATED, Json(ProductJson::from(&product))))
}

pub async fn update_product(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    body: Result<Json<ProductBody>, JsonRejection>,
) -> ApiResult<Json<ProductJson>> {
    let id = product_id(&id)?;
    let new = product_body(body)?
        .validate_with(state.default_admit_per_second, Times::Rfc3339)
        .map_err(AppError::Invalid)?;
    let product = catalog::update(&state, id, &new).await?;
    Ok(Json(ProductJson::from(&product)))
}

pub async fn delete_product(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    catalog::delete(&state, product_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_orders(
    State(state): State<AdminState>,
    Query(query): Query<OrdersQuery>,
) -> ApiResult<Json<Value>> {
    let page = match query.page.as_deref() {
        None => 1,
        Some(p) => p.parse::<i64>().ok().filter(|p| *p >= 1).ok_or_else(|| {
            AppError::BadRequest(format!("page is a whole number from 1, not {p:?}"))
        })?,
    };
    let filter = query.filter();
    let (orders, total) = page_of(&state, &filter, page).await?;
    Ok(Json(json!({
        "page": page,
        "perPage": PER_PAGE,
        "pages": pages(total),
        "total": total,
        "orders": orders,
    })))
}

pub async fn publish(State(state): State<AdminState>) -> ApiResult<Json<Value>> {
    let summary = catalog::publish(&state).await?;
    Ok(Json(catalog::summary_json(&summary)))
}
