//! Products: list, add, edit, delete (with a confirmation page). A form with mistakes comes
//! back with the admin's input and a message next to each wrong field.

use super::{context, product_id};
use crate::catalog;
use crate::local_time;
use crate::local_time::HumanTime;
use crate::product_input::{FieldErrors, ProductForm, ProductJson, Times};
use crate::session::Session;
use crate::{AdminState, AppError};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use flashsale_core::domain::now_unix_ms;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
    id: Option<i64>,
}

impl Done {
    /// The message after a change; fixed texts, so nothing from the URL reaches the page.
    fn message(&self) -> String {
        let id = self.id.map(|i| format!(" {i}")).unwrap_or_default();
        match self.done.as_deref() {
            Some("added") => format!("Product{id} added. Republish to show it in the shop."),
            Some("saved") => {
                format!("Product{id} saved. Republish to show the changes in the shop.")
            }
            Some("deleted") => {
                format!("Product{id} deleted. Republish to remove its page from the shop.")
            }
            _ => String::new(),
        }
    }
}

pub async fn list(
    State(state): State<AdminState>,
    Extension(session): Extension<Session>,
    Query(done): Query<Done>,
) -> Result<Html<String>, AppError> {
    let now_ms = now_unix_ms();
    let zone = state.time_zone;
    let when = |t: Option<i64>| t.map(|t| local_time::human(zone, t.saturating_mul(1000), now_ms));
    let products: Vec<ProductRow> = state
        .db
        .list_products()
        .await?
        .iter()
        .map(|p| ProductRow {
            price_text: state.money(p.price_cents),
            product: ProductJson::from(p),
            starts: when(p.sale_start),
            ends: when(p.sale_end),
        })
        .collect();
    let mut ctx = context(&state, Some(&session), "products");
    ctx.insert("products", &products);
    ctx.insert("flash", &done.message());
    state.templates.render("products.html", &ctx)
}

/// A row of the products list: the product and its sale window as the admin reads it.
#[derive(Serialize)]
struct ProductRow {
    #[serde(flatten)]
    product: ProductJson,
    /// "$19.99"
    price_text: String,
    starts: Option<HumanTime>,
    ends: Option<HumanTime>,
}

/// A problem with the form, for the list at its top.
#[derive(Serialize)]
struct Problem {
    field: &'static str,
    message: String,
}

fn form_page(
    state: &AdminState,
    session: &Session,
    id: Option<i64>,
    form: &ProductForm,
    errors: &FieldErrors,
) -> Result<Html<String>, AppError> {
    let mut ctx = context(state, Some(session), "products");
    ctx.insert("id", &id);
    ctx.insert("form", form);
    ctx.insert("errors", &errors.as_json());
    let problems: Vec<Problem> = errors
        .0
        .iter()
        .map(|(field, message)| Problem {
            field,
            message: message.clone(),
        })
        .collect();
    ctx.insert("problems", &problems);
    ctx.insert("time_zone", state.time_zone.name());
    ctx.insert("currency", &state.currency);
    state.templates.render("product_form.html", &ctx)
}

pub async fn new_form(
    State(state): State<AdminState>,
    Extension(session): Extension<Session>,
) -> Result<Html<String>, AppError> {
    let blank = ProductForm {
        stock: "0".into(),
        admit_per_second: state.default_admit_per_second.to_string(),
        ..ProductForm::default()
    };
    form_page(&state, &session, None, &blank, &FieldErrors::default())
}

pub async fn create(
    State(state): State<AdminState>,
    Extension(session): Extension<Session>,
    Form(form): Form<ProductForm>,
) -> Result<Response, AppError> {
    match form.validate_with(
        state.default_admit_per_second,
        Times::Local(state.time_zone),
    ) {
        Ok(new) => {
            let product = catalog::create(&state, &new).await?;
            Ok(Redirect::to(&format!("/products?done=added&id={}", product.id)).into_response())
        }
        Err(errors) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            form_page(&state, &session, None, &form, &errors)?,
        )
            .into_response()),
    }
}

pub async fn edit_form(
    State(state): State<AdminState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Result<Html<String>, AppError> {
    let id = product_id(&id)?;
    let product = state
        .db
        .get_product(id)
        .await?
        .ok_or(AppError::NoSuchProduct(id))?;
    form_page(
        &state,
        &session,
        Some(id),
        &ProductForm::from_product(&product, state.time_zone),
        &FieldErrors::default(),
    )
}

pub async fn update(
    State(state): State<AdminState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(form): Form<ProductForm>,
) -> Result<Response, AppError> {
    let id = product_id(&id)?;
    match form.validate_with(
        state.default_admit_per_second,
        Times::Local(state.time_zone),
    ) {
        Ok(new) => {
            catalog::update(&state, id, &new).await?;
            Ok(Redirect::to(&format!("/products?done=saved&id={id}")).into_response())
        }
        Err(errors) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            form_page(&state, &session, Some(id), &form, &errors)?,
        )
            .into_response()),
    }
}

pub async fn confirm_delete(
    State(state): State<AdminState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Result<Html<String>, AppError> {
    let id = product_id(&id)?;
    let product = state
        .db
        .get_product(id)
        .await?
        .ok_or(AppError::NoSuchProduct(id))?;
    let (confirmed, failed) = state.db.order_counts(id).await?;
    let mut ctx = context(&state, Some(&session), "products");
    ctx.insert("product", &ProductJson::from(&product));
    ctx.insert("orders", &(confirmed + failed));
    state.templates.render("product_delete.html", &ctx)
}

pub async fn delete(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id = product_id(&id)?;
    catalog::delete(&state, id).await?;
    Ok(Redirect::to(&format!("/products?done=deleted&id={id}")).into_response())
}
