//! Orders: newest first, with shopper and product names, paged, filtered by shopper or
//! product, and exported as CSV with the same filters.

use super::context;
use crate::csv;
use crate::local_time::{self, HumanTime};
use crate::session::Session;
use crate::{AdminState, AppError};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;
use flashsale_core::db::{OrderFilter, OrderRow};
use flashsale_core::domain::now_unix_ms;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub const PER_PAGE: i64 = 50;
/// Rows read from the database at a time while exporting.
const EXPORT_CHUNK: i64 = 1_000;

#[derive(Debug, Default, Deserialize)]
pub struct OrdersQuery {
    pub page: Option<String>,
    pub shopper: Option<String>,
    pub product: Option<String>,
}

impl OrdersQuery {
    pub fn filter(&self) -> OrderFilter {
        let clean = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
        };
        OrderFilter {
            shopper: clean(&self.shopper),
            product: clean(&self.product),
        }
    }
}

/// An order as pages and the API show it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    pub order_id: String,
    pub created_at: String,
    /// For pages; the API sends `createdAt`.
    #[serde(skip)]
    pub created_ms: i64,
    pub user_id: i64,
    pub user_name: Option<String>,
    pub nick_name: Option<String>,
    pub product_id: i64,
    pub product_name: Option<String>,
    pub status: &'static str,
}

/// A line of the orders page: the order and when it was accepted, as the admin reads it.
#[derive(Serialize)]
struct OrderLine {
    #[serde(flatten)]
    order: OrderView,
    accepted: HumanTime,
    /// The product's price now (`None`: the product was deleted).
    price: Option<String>,
}

/// Each product's price in cents, by id: orders are shown at their product's price.
async fn prices(state: &AdminState) -> Result<HashMap<i64, i64>, AppError> {
    Ok(state
        .db
        .list_products()
        .await?
        .into_iter()
        .map(|p| (p.id, p.price_cents))
        .collect())
}

impl From<&OrderRow> for OrderView {
    fn from(o: &OrderRow) -> Self {
        OrderView {
            order_id: o.order_id.clone(),
            created_at: accepted_at(o.created_at),
            created_ms: o.created_at,
            user_id: o.user_id,
            user_name: o.user_name.clone(),
            nick_name: o.nick_name.clone(),
            product_id: o.product_id,
            product_name: o.product_name.clone(),
            status: o.status.as_str(),
        }
    }
}

/// Unix milliseconds as RFC 3339 (UTC, milliseconds kept).
pub fn accepted_at(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// A page of orders and how many there are in all.
pub async fn page_of(
    state: &AdminState,
    filter: &OrderFilter,
    page: i64,
) -> Result<(Vec<OrderView>, i64), AppError> {
    let total = state.db.count_orders(filter).await?;
    let offset = (page - 1).saturating_mul(PER_PAGE);
    let rows = state.db.list_orders(filter, PER_PAGE, offset).await?;
    Ok((rows.iter().map(OrderView::from).collect(), total))
}

pub fn pages(total: i64) -> i64 {
    ((total + PER_PAGE - 1) / PER_PAGE).max(1)
}

/// `?shopper=…&product=…&page=…`, leaving out what is empty.
fn query_string(filter: &OrderFilter, page: Option<i64>) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    if let Some(s) = &filter.shopper {
        q.append_pair("shopper", s);
    }
    if let Some(p) = &filter.product {
        q.append_pair("product", p);
    }
    if let Some(page) = page {
        q.append_pair("page", &page.to_string());
    }
    let q = q.finish();
    if q.is_empty() {
        q
    } else {
        format!("?{q}")
    }
}

pub async fn list(
    State(state): State<AdminState>,
    Extension(session): Extension<Session>,
    Query(query): Query<OrdersQuery>,
) -> Result<Html<String>, AppError> {
    let filter = query.filter();
    let page = query
        .page
        .as_deref()
        .and_then(|p| p.parse::<i64>().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1);
    let (orders, total) = page_of(&state, &filter, page).await?;
    let now_ms = now_unix_ms();
    let prices = prices(&state).await?;
    let rows: Vec<OrderLine> = orders
        .into_iter()
        .map(|order| OrderLine {
            accepted: local_time::human(state.time_zone, order.created_ms, now_ms),
            price: prices.get(&order.product_id).map(|&c| state.money(c)),
            order,
        })
        .collect();
    // Confirmed orders of the whole shop at their product's current price.
    let revenue: i64 = state
        .db
        .order_stats(now_ms)
        .await?
        .iter()
        .map(|s| {
            s.confirmed
                .saturating_mul(prices.get(&s.product_id).copied().unwrap_or(0))
        })
        .fold(0, i64::saturating_add);
    let pages = pages(total);
    let mut ctx = context(&state, Some(&session), "orders");
    ctx.insert("orders", &rows);
    ctx.insert("revenue", &state.money(revenue));
    ctx.insert("total", &total);
    ctx.insert("page", &page);
    ctx.insert("pages", &pages);
    ctx.insert("shopper", &filter.shopper.clone().unwrap_or_default());
    ctx.insert("product", &filter.product.clone().unwrap_or_default());
    ctx.insert("query", &query_string(&filter, None));
    // Only the query: tera escapes `/` in values, so the path stays in the template.
    let link = |p: i64| query_string(&filter, Some(p));
    ctx.insert("prev", &(page > 1).then(|| link(page - 1)));
    ctx.insert("next", &(page < pages).then(|| link(page + 1)));
    state.templates.render("orders.html", &ctx)
}

pub async fn csv(
    State(state): State<AdminState>,
    Query(query): Query<OrdersQuery>,
) -> Result<Response, AppError> {
    let filter = query.filter();
    let prices = prices(&state).await?;
    let mut out = String::from(csv::HEADER);
    let mut offset = 0;
    loop {
        let rows = state.db.list_orders(&filter, EXPORT_CHUNK, offset).await?;
        for o in &rows {
            let price = prices.get(&o.product_id).copied();
            out.push_str(&csv::line(
                o,
                &accepted_at(o.created_at),
                price,
                &state.currency,
            ));
        }
        if (rows.len() as i64) < EXPORT_CHUNK {
            break;
        }
        offset += EXPORT_CHUNK;
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"orders.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}
