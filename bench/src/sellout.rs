//! Section 4: a sale. Many distinct shoppers click Buy once each, all at node A of a ring of
//! two gateways (half of them owned by B, so forwarded), against a product with few units,
//! while a worker drains the orders into MariaDB. Measured: how long the units lasted, the
//! latency of Buy during the sale, and whether the database holds exactly one order a unit.

use crate::cookies::Cookies;
use crate::gateways::{Gateways, COOLDOWN};
use crate::sale::{Sale, AMQP};
use crate::table::{thousands, Row, Section};
use crate::wrk::{Shoppers, Wrk};
use crate::Scale;
use flashsale_core::domain::now_unix_ms;
use flashsale_core::queue::AmqpConsumer;
use flashsale_order_worker::{drain, DrainOptions, DrainStats};
use std::sync::Arc;
use std::time::Duration;

/// The longest a sale may take, wrk's bound (it ends sooner: each shopper clicks once).
const SALE_BOUND_SECS: u64 = 120;
/// How long the worker has to record the last order after the sale.
const RECORD_BOUND: Duration = Duration::from_secs(60);

pub async fn run(scale: &Scale) -> anyhow::Result<Section> {
    let sale = Sale::open(&[scale.sale_units]).await?;
    let gateways = Gateways::start(&sale, COOLDOWN).await?;
    let stats = Arc::new(DrainStats::default());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = {
        let mut consumer = AmqpConsumer::connect(AMQP, &sale.queue, 1_000).await?;
        let (db, stock, stats) = (sale.db.clone(), sale.stock.clone(), stats.clone());
        tokio::spawn(async move {
            drain(
                &db,
                stock.as_ref(),
                &mut consumer,
                &DrainOptions::default(),
                &stats,
                stopped,
            )
            .await
        })
    };
    let measured = measure(scale, &sale, &gateways, &stats).await;
    let _ = stop.send(true);
    worker.await??;
    gateways.shutdown().await?;
    sale.close().await?;
    measured
}

async fn measure(
    scale: &Scale,
    sale: &Sale,
    gateways: &Gateways,
    stats: &Arc<DrainStats>,
) -> anyhow::Result<Section> {
    let (shoppers, units) = (scale.sale_shoppers, scale.sale_units);
    let product = sale.products[0];
    let dir = tempfile::tempdir()?;
    let mut cookies = Cookies::new(gateways.codec.clone(), gateways.ring(), dir.path());
    let file = cookies.fresh(shoppers, None)?;
    let wrk = Wrk::new(dir.path(), SALE_BOUND_SECS, scale.connections)?;
    let (a, path) = (
        gateways.a().to_string(),
        format!("/getOne?productID={product}"),
    );
    eprintln!(
        "4. a sale: {} shoppers, {} units",
        thousands(shoppers as f64),
        thousands(units as f64)
    );
    // When the worker has recorded as many orders as there are units, if it does in time.
    let mut all_recorded = {
        let stats = stats.clone();
        tokio::spawn(async move {
            while (stats.confirmed() as i64) < units {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            now_unix_ms()
        })
    };
    let load =
        tokio::task::spawn_blocking(move || wrk.post(&a, &path, &file, Shoppers::Once)).await??;
    let all_recorded = match tokio::time::timeout(RECORD_BOUND, &mut all_recorded).await {
        Ok(at) => Some(at?),
        Err(_) => {
            all_recorded.abort();
            None
        }
    };
    // A moment more, so an order recorded twice would show.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let orders = sale.db.orders_of_product(product).await?;
    let (first, last) = orders
        .iter()
        .map(|o| o.created_at)
        .fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));

    let accepted = load.count(202);
    let mut section = Section::new(format!(
        "4. A sale: {} distinct shoppers click Buy once each against {} units",
        thousands(shoppers as f64),
        thousands(units as f64)
    ));
    let sold_out_in = if orders.is_empty() {
        "nothing sold".to_string()
    } else {
        format!("sold out in {:.2} s", (last - first) as f64 / 1e3)
    };
    section.push(Row {
        p50_ms: format!("{:.2}", load.p50_ms),
        p99_ms: format!("{:.2}", load.p99_ms),
        notes: format!(
            "from the first unit sold to the last; all at node A of two ({} req/s, {} s in all); \
             answers: {}",
            thousands(load.rate()),
            format_args!("{:.1}", load.seconds),
            answers(&load.statuses)
        ),
        ..Row::new(
            "time to sell out, and Buy latency during the sale",
            sold_out_in,
        )
    });
    let exact = orders.len() as i64 == units && accepted as i64 == units;
    if !exact {
        eprintln!(
            "\n!!! MISMATCH: {} units, {} Buys accepted (202), {} orders in MariaDB !!!\n",
            units,
            accepted,
            orders.len()
        );
    }
    section.push(Row {
        goal: format!(
            "== {}: {}",
            thousands(units as f64),
            if exact { "met" } else { "MISMATCH" }
        ),
        notes: format!(
            "{} Buys accepted; {}",
            thousands(accepted as f64),
            match all_recorded {
                Some(at) if !orders.is_empty() => format!(
                    "all recorded {:.2} s after the first unit sold",
                    (at - first).max(0) as f64 / 1e3
                ),
                _ => format!("not all recorded within {} s", RECORD_BOUND.as_secs()),
            }
        ),
        ..Row::new(
            "orders in MariaDB (worker draining during the sale)",
            thousands(orders.len() as f64),
        )
    });
    Ok(section)
}

/// "202 x1,000, 410 x99,000".
fn answers(statuses: &std::collections::BTreeMap<u16, u64>) -> String {
    statuses
        .iter()
        .map(|(s, n)| format!("{s} x{}", thousands(*n as f64)))
        .collect::<Vec<_>>()
        .join(", ")
}
