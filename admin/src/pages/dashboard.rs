//! The dashboard: per product the units left to sell and those reserved now (held by shoppers
//! whose orders are on their way to the database), confirmed and failed orders and sales in
//! the last minute; a chart of orders per minute with labelled axes, times in the shop's
//! zone. The page polls [`json`] every 2 s (`dashboard.js`) and redraws in place.

use super::context;
use crate::local_time;
use crate::session::Session;
use crate::{AdminState, AppError};
use axum::extract::State;
use axum::response::{Html, Json};
use axum::Extension;
use chrono_tz::Tz;
use flashsale_core::domain::now_unix_ms;
use serde::Serialize;
use std::collections::HashMap;

/// Minutes the chart shows.
const CHART_MINUTES: i64 = 30;
/// The chart's SVG user units: the plot, and the margins the axes' labels take.
const CHART_WIDTH: i64 = 640;
const CHART_HEIGHT: i64 = 200;
const PLOT_LEFT: i64 = 48;
const PLOT_RIGHT: i64 = 8;
const PLOT_TOP: i64 = 12;
const PLOT_BOTTOM: i64 = 36;
/// A time label on the x axis every so many minutes.
const X_LABEL_EVERY: i64 = 5;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// RFC 3339, for scripts; `at_text` is the time of day in the shop's zone.
    at: String,
    at_text: String,
    products: Vec<ProductStats>,
    chart: Chart,
    chart_peak: i64,
    /// Confirmed orders at their product's current price, in the shop's currency.
    revenue: String,
    confirmed: i64,
    /// Orders accepted in the last minute, all products.
    last_minute: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProductStats {
    id: i64,
    name: String,
    /// Units the database has not sold (the edit page's pause button reads it).
    stock: i64,
    /// Left to sell: units the stock store has not reserved (`None`: not loaded there).
    remaining: Option<i64>,
    /// Reserved now: units shoppers hold whose orders the worker has not recorded yet.
    reserved_now: Option<i64>,
    confirmed: i64,
    /// The confirmed orders at the product's current price ("$39.98").
    revenue: String,
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

/// The chart: bars and both axes' ticks, in SVG user units, so the page and the script draw
/// the same thing.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Chart {
    bars: Vec<Bar>,
    /// Order counts up the y axis.
    y_ticks: Vec<Tick>,
    /// Times along the x axis.
    x_ticks: Vec<Tick>,
    /// "Time (Europe/Paris)".
    x_title: String,
}

#[derive(Serialize)]
struct Bar {
    x: i64,
    y: i64,
    width: i64,
    height: i64,
    label: String,
}

/// A label on an axis at `pos` (y on the y axis, x on the x axis).
#[derive(Serialize)]
struct Tick {
    pos: i64,
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
    let mut revenue_cents: i64 = 0;
    for p in products {
        let o = orders.get(&p.id);
        let queue = if p.queue {
            Some(queue_stats(state, p.id, now_ms).await?)
        } else {
            None
        };
        let remaining = state.stock.remaining(p.id).await?;
        let confirmed = o.map_or(0, |o| o.confirmed);
        revenue_cents = revenue_cents.saturating_add(confirmed.saturating_mul(p.price_cents));
        rows.push(ProductStats {
            queue,
            id: p.id,
            remaining,
            reserved_now: remaining.map(|r| (p.stock - r).max(0)),
            name: p.name,
            stock: p.stock,
            confirmed,
            revenue: state.money(confirmed.saturating_mul(p.price_cents)),
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
        at_text: local_time::clock(state.time_zone, now_ms),
        last_minute: rows.iter().map(|r| r.last_minute).sum(),
        confirmed: rows.iter().map(|r| r.confirmed).sum(),
        revenue: state.money(revenue_cents),
        products: rows,
        chart: chart(&counts, peak, state.time_zone),
        chart_peak: peak,
    })
}

/// The y axis's top: the peak rounded up to 1, 2 or 5 times a power of ten (at least 2, so an
/// empty chart still has a scale).
fn axis_top(peak: i64) -> i64 {
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            if m * step >= peak.max(2) {
                return m * step;
            }
        }
        step *= 10;
    }
}

/// Bars scaled to the y axis's top, a minute with orders showing at least a sliver; a tick
/// at 0, half way and the top; a time every [`X_LABEL_EVERY`] minutes.
fn chart(counts: &[(i64, i64)], peak: i64, zone: Tz) -> Chart {
    let plot_width = CHART_WIDTH - PLOT_LEFT - PLOT_RIGHT;
    let plot_height = CHART_HEIGHT - PLOT_TOP - PLOT_BOTTOM;
    let base = CHART_HEIGHT - PLOT_BOTTOM;
    let slot = plot_width / counts.len().max(1) as i64;
    let top = axis_top(peak);
    let bars = counts
        .iter()
        .enumerate()
        .map(|(i, &(minute, n))| {
            let height = if n == 0 {
                0
            } else {
                (n * plot_height / top).max(2)
            };
            let orders = if n == 1 { "order" } else { "orders" };
            Bar {
                x: PLOT_LEFT + i as i64 * slot + 1,
                y: base - height,
                width: slot - 2,
                height,
                label: format!(
                    "{}: {n} {orders}",
                    local_time::hour_minute(zone, minute * 60_000)
                ),
            }
        })
        .collect();
    let y_ticks = [0, top / 2, top]
        .into_iter()
        .map(|v| Tick {
            pos: base - v * plot_height / top,
            label: v.to_string(),
        })
        .collect();
    let x_ticks = counts
        .iter()
        .enumerate()
        .filter(|(_, (minute, _))| minute % X_LABEL_EVERY == 0)
        .map(|(i, (minute, _))| Tick {
            pos: PLOT_LEFT + i as i64 * slot + slot / 2,
            label: local_time::hour_minute(zone, minute * 60_000),
        })
        .collect();
    Chart {
        bars,
        y_ticks,
        x_ticks,
        x_title: format!("Time ({})", zone.name()),
    }
}

pub async fn page(
    State(state): State<AdminState>,
    Extension(session): Extension<Session>,
) -> Result<Html<String>, AppError> {
    let stats = stats(&state).await?;
    let mut ctx = context(&state, Some(&session), "dashboard");
    ctx.insert("chart", &stats.chart);
    ctx.insert("chart_width", &CHART_WIDTH);
    ctx.insert("chart_height", &CHART_HEIGHT);
    ctx.insert("plot_left", &PLOT_LEFT);
    ctx.insert("plot_right", &(CHART_WIDTH - PLOT_RIGHT));
    ctx.insert("plot_top", &PLOT_TOP);
    ctx.insert("plot_base", &(CHART_HEIGHT - PLOT_BOTTOM));
    ctx.insert("plot_mid_x", &((PLOT_LEFT + CHART_WIDTH - PLOT_RIGHT) / 2));
    ctx.insert("plot_mid_y", &((PLOT_TOP + CHART_HEIGHT - PLOT_BOTTOM) / 2));
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

    const PLOT_HEIGHT: i64 = CHART_HEIGHT - PLOT_TOP - PLOT_BOTTOM;
    const BASE: i64 = CHART_HEIGHT - PLOT_BOTTOM;

    #[test]
    fn a_round_peak_fills_the_chart_and_empty_minutes_are_flat() {
        let c = chart(&[(0, 0), (1, 5), (2, 10)], 10, chrono_tz::UTC);
        let b = &c.bars;
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].height, 0);
        assert_eq!(b[2].height, PLOT_HEIGHT);
        assert_eq!(b[1].height, PLOT_HEIGHT / 2);
        assert_eq!(b[2].y + b[2].height, BASE, "bars stand on the x axis");
        assert!(b[1].x > b[0].x && b[0].x > PLOT_LEFT, "right of the y axis");
        assert_eq!(b[1].label, "00:01: 5 orders");
    }

    #[test]
    fn both_axes_are_labelled_in_the_shops_time() {
        // 30 minutes from 09:58 UTC = 10:58 in Paris.
        let first = (9 * 60 + 58) as i64;
        let counts: Vec<(i64, i64)> = (first..first + 30).map(|m| (m, m % 3)).collect();
        let c = chart(&counts, 2, chrono_tz::Europe::Paris);
        let y: Vec<&str> = c.y_ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(y, ["0", "1", "2"]);
        assert_eq!(c.y_ticks[0].pos, BASE);
        let x: Vec<&str> = c.x_ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(x, ["11:00", "11:05", "11:10", "11:15", "11:20", "11:25"]);
        assert_eq!(c.x_title, "Time (Europe/Paris)");
        assert_eq!(axis_top(0), 2);
        assert_eq!(axis_top(7), 10);
        assert_eq!(axis_top(13), 20);
        assert_eq!(axis_top(260), 500);
    }
}
