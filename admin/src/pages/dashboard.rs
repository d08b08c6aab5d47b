//! The dashboard: per product the database's stock, the stock store's remaining and reserved
//! units, confirmed and failed orders and sales in the last minute; a chart of orders per
//! minute. The page polls [`json`] every 2 s (`dashboard.js`) and redraws in place.

use super::context;
use crate::session::Session;
use crate::{AdminState, AppError};
use axum::extract::State;
use axum::response::{Html, Json};
use axum::Extension;
use flashsale_core::domain::now_unix_ms;
use serde::Serialize;
use std::collections::HashMap;

/// Minutes the chart shows.
const CHART_MINUTES: i64 = 30;
const CHART_WIDTH: i64 = 600;
const CHART_HEIGHT: i64 = 160;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    at: String,
    products: Vec<ProductStats>,
    chart: Vec<Bar>,
    chart_peak: i64,
    /// Orders accepted in the last minute, all products.
    last_minute: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProductStats {
    id: i64,
    name: String,
    /// Units the database has not sold.
    stock: i64,
    /// Units the stock store has not reserved (`None`: not loaded there).
    remaining: Option<i64>,
    /// Shoppers holding a unit in the stock store.
    reserved: Option<u64>,
    confirmed: i64,
    failed: i64,
    last_minute: i64,
    /// The waiting room of a queued product (`None`: the product has none).
    queue: Option<QueueStats>,
}

/// A waiting room live, as the dashboard shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct QueueStats {
    /// Everyone who joined (drawn or still in the prequeue).
    in_line: u64,
    /// Positions admitted so far (never more than were given).
    admitted: u64,
    admitted_per_minute: u64,
    /// Seconds until the last one in line is admitted (`None`: paused, or not started).
    last_wait_seconds: Option<i64>,
    challenges_refused: u64,
    /// The rate now (0: paused).
    admit_per_second: u32,
    drawn: bool,
}

async fn queue_stats(
    state: &AdminState,
    product_id: i64,
    now_ms: i64,
) -> Result<QueueStats, AppError> {
    let line = state.room.line(product_id, None).await?;
    let schedule = &line.schedule;
    let admitted = schedule.serving(now_ms).min(line.positions);
    let last_wait_seconds = if line.positions == 0 {
        Some(0)
    } else {
        schedule
            .admitted_at(line.positions)
            .map(|at| ((at - now_ms).max(0) + 999) / 1000)
    };
    Ok(QueueStats {
        in_line: line.in_line(),
        admitted,
        admitted_per_minute: schedule.admitted_last_minute(now_ms, line.positions),
        last_wait_seconds,
        challenges_refused: line.refused,
        admit_per_second: if schedule.is_empty() {
            0
        } else {
            schedule.rate_at(now_ms)
        },
        drawn: line.drawn,
    })
}

/// One bar of the chart, in SVG user units.
#[derive(Serialize)]
struct Bar {
    x: i64,
    y: i64,
    width: i64,
    height: i64,
    label: String,
}

pub async fn stats(state: &AdminState) -> Result<Stats, AppError> {
    let now_ms = now_unix_ms();
    let this_minute = now_ms / 60_000;
    let first_minute = this_minute - (CHART_MINUTES - 1);
    let products = state.db.list_products().await?;
    let orders: HashMap<i64, _> = state
        .db
        .order_stats(now_ms - 60_000)
        .await?
        .into_iter()
        .map(|s| (s.product_id, s))
        .collect();
    let mut rows = Vec::with_capacity(products.len());
    for p in products {
        let o = orders.get(&p.id);
        let queue = if p.queue {
            Some(queue_stats(state, p.id, now_ms).await?)
        } else {
            None
        };
        rows.push(ProductStats {
            queue,
            id: p.id,
            remaining: state.stock.remaining(p.id).await?,
            reserved: state.stock.holders(p.id).await?,
            name: p.name,
            stock: p.stock,
            confirmed: o.map_or(0, |o| o.confirmed),
            failed: o.map_or(0, |o| o.failed),
            last_minute: o.map_or(0, |o| o.recent),
        });
    }
    let per_minute: HashMap<i64, i64> = state
        .db
        .orders_per_minute(first_minute * 60_000)
        .await?
        .into_iter()
        .map(|(ms, n)| (ms / 60_000, n))
        .collect();
    let counts: Vec<(i64, i64)> = (first_minute..=this_minute)
        .map(|m| (m, per_minute.get(&m).copied().unwrap_or(0)))
        .collect();
    let peak = counts.iter().map(|(_, n)| *n).max().unwrap_or(0);
    Ok(Stats {
        at: crate::product_input::rfc3339(now_ms / 1000),
        last_minute: rows.iter().map(|r| r.last_minute).sum(),
        products: rows,
        chart: bars(&counts, peak),
        chart_peak: peak,
    })
}

/// Bars scaled so the peak fills the chart; a minute with orders shows at least a sliver.
fn bars(counts: &[(i64, i64)], peak: i64) -> Vec<Bar> {
    let slot = CHART_WIDTH / counts.len().max(1) as i64;
    let usable = CHART_HEIGHT - 10;
    counts
        .iter()
        .enumerate()
        .map(|(i, &(minute, n))| {
            let height = if peak == 0 || n == 0 {
                0
            } else {
                (n * usable / peak).max(2)
            };
            let hh_mm = crate::product_input::rfc3339(minute * 60);
            Bar {
                x: i as i64 * slot + 1,
                y: CHART_HEIGHT - height,
                width: slot - 2,
                height,
                label: format!("{} UTC: {n} order(s)", hh_mm.get(11..16).unwrap_or(&hh_mm)),
            }
        })
        .collect()
}

pub async fn page(
    State(state): State<AdminState>,
    Extension(session): Extension<Session>,
) -> Result<Html<String>, AppError> {
    let stats = stats(&state).await?;
    let mut ctx = context(&state, Some(&session), "dashboard");
    ctx.insert("chart", &stats.chart);
    ctx.insert("chart_peak", &stats.chart_peak);
    ctx.insert("stats", &stats);
    state.templates.render("dashboard.html", &ctx)
}

pub async fn json(State(state): State<AdminState>) -> Result<Json<Stats>, AppError> {
    Ok(Json(stats(&state).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_fills_the_chart_and_empty_minutes_are_flat() {
        let b = bars(&[(0, 0), (1, 5), (2, 10)], 10);
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].height, 0);
        assert_eq!(b[2].height, CHART_HEIGHT - 10);
        assert_eq!(b[1].height, (CHART_HEIGHT - 10) / 2);
        assert_eq!(b[2].y + b[2].height, CHART_HEIGHT);
        assert!(b[1].x > b[0].x);
    }
}
