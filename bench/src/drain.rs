//! Worker drain rate: orders recorded in MariaDB per second, from a RabbitMQ queue holding
//! `n` orders, beside the same orders recorded without the queue and the stock store, and
//! MariaDB's raw multi-row insert of the same rows.

use crate::sale::{fresh_db, Sale, AMQP};
use crate::table::{met, thousands, Row, Section};
use flashsale_core::domain::{new_order_id, now_unix_ms, OrderMessage};
use flashsale_core::queue::{AmqpConsumer, AmqpQueue, OrderQueue};
use flashsale_core::stock::StockStore;
use flashsale_order_worker::{drain, DrainOptions, DrainStats};
use flashsale_testkit::require;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// The rows of one INSERT and of one worker batch: the worker's default `worker_batch`, so the
/// row measures the worker as it ships.
fn batch() -> usize {
    flashsale_core::Config::default().worker_batch
}

/// The worker's goal from the issue.
const WORKER_GOAL: f64 = 20_000.0;

pub async fn run(n: usize) -> anyhow::Result<Section> {
    require("MariaDB", "127.0.0.1:3306");
    require("Redis", "127.0.0.1:6379");
    require("RabbitMQ", "127.0.0.1:5672");
    eprintln!("5. worker drain: {n} orders");

    let raw = rate(n, raw_insert(n).await?);
    let direct = rate(n, record_directly(n).await?);
    let (publish, worker) = through_the_worker(n).await?;
    let (publish, worker) = (rate(n, publish), rate(n, worker));

    let reference = "raw INSERT";
    let mut section = Section::new(format!(
        "5. Worker drain: {} queued orders into MariaDB, batches of {}",
        thousands(n as f64),
        batch()
    ));
    section.push(Row::new(
        "MariaDB raw multi-row INSERT of the same rows (reference)",
        orders_per_s(raw),
    ));
    section.push(
        Row::new(
            "record_orders alone (no queue, no Redis claim)",
            orders_per_s(direct),
        )
        .versus(direct, raw, reference, None),
    );
    let mut worker_row = Row::new(
        "worker: RabbitMQ -> claim in Redis -> MariaDB -> ack",
        orders_per_s(worker),
    )
    .versus(worker, raw, reference, None);
    worker_row.goal = format!(
        ">= {} orders/s: {}",
        thousands(WORKER_GOAL),
        met(worker, WORKER_GOAL)
    );
    section.push(worker_row);
    section.push(
        Row::new(
            "(gateway side) reserve + publish with confirms, 256 in flight",
            orders_per_s(publish),
        )
        .versus(publish, raw, reference, None),
    );
    Ok(section)
}

fn rate(n: usize, secs: f64) -> f64 {
    n as f64 / secs.max(1e-9)
}

fn orders_per_s(rate: f64) -> String {
    format!("{} orders/s", thousands(rate))
}

fn orders(n: usize, product_id: i64) -> Vec<OrderMessage> {
    (1..=n as i64)
        .map(|user_id| OrderMessage {
            order_id: new_order_id(),
            user_id,
            product_id,
            accepted_at: now_unix_ms(),
        })
        .collect()
}

/// Seconds to insert `n` order rows with multi-row INSERTs of `batch()` rows, nothing else.
async fn raw_insert(n: usize) -> anyhow::Result<f64> {
    let (database, db, product_id) = fresh_db(n as i64).await?;
    db.close().await;
    let pool = sqlx::MySqlPool::connect(&database.url).await?;
    let all = orders(n, product_id);
    let started = Instant::now();
    for chunk in all.chunks(batch()) {
        let mut sql = String::from(
            "INSERT INTO orders (order_id, user_id, product_id, status, created_at) VALUES ",
        );
        sql.push_str(&vec!["(?, ?, ?, 'confirmed', ?)"; chunk.len()].join(", "));
        let mut query = sqlx::query(&sql);
        for o in chunk {
            query = query
                .bind(&o.order_id)
                .bind(o.user_id)
                .bind(o.product_id)
                .bind(o.accepted_at);
        }
        query.execute(&pool).await?;
    }
    let secs = started.elapsed().as_secs_f64();
    pool.close().await;
    Ok(secs)
}

/// Seconds for `Db::record_orders` to record `n` orders in batches, without queue or claims.
async fn record_directly(n: usize) -> anyhow::Result<f64> {
    let (_database, db, product_id) = fresh_db(n as i64).await?;
    let all = orders(n, product_id);
    let started = Instant::now();
    for chunk in all.chunks(batch()) {
        db.record_orders(chunk).await?;
    }
    let secs = started.elapsed().as_secs_f64();
    db.close().await;
    Ok(secs)
}

/// Seconds to publish `n` reserved orders, and seconds for the worker to drain them.
async fn through_the_worker(n: usize) -> anyhow::Result<(f64, f64)> {
    let sale = Sale::open(&[n as i64]).await?;
    let (db, product_id, stock, queue_name) = (
        sale.db.clone(),
        sale.products[0],
        sale.stock.clone(),
        sale.queue.clone(),
    );
    let all = orders(n, product_id);

    // Reserve and publish as the gateway would, many at once.
    let publisher = Arc::new(AmqpQueue::connect(AMQP, &queue_name).await?);
    let in_flight = Arc::new(Semaphore::new(256));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for order in all {
        let (publisher, stock, permit) = (
            publisher.clone(),
            stock.clone(),
            in_flight.clone().acquire_owned().await?,
        );
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            stock
                .reserve(order.product_id, order.user_id, &order.order_id)
                .await?;
            publisher.publish(&order).await?;
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let publish = started.elapsed().as_secs_f64();

    let mut consumer = AmqpConsumer::connect(AMQP, &queue_name, 1_000).await?;
    let stats = Arc::new(DrainStats::default());
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let options = DrainOptions {
        batch: batch(),
        ..DrainOptions::default()
    };
    let started = Instant::now();
    let worker = {
        let (db, stock, stats) = (db.clone(), stock.clone(), stats.clone());
        tokio::spawn(async move {
            drain(&db, stock.as_ref(), &mut consumer, &options, &stats, stop).await
        })
    };
    while stats.confirmed() < n as u64 {
        if started.elapsed() > Duration::from_secs(600) {
            anyhow::bail!(
                "the worker drained only {} of {n} orders in 10 minutes",
                stats.confirmed()
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let drain_secs = started.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    worker.await??;

    sale.close().await?;
    Ok((publish, drain_secs))
}
