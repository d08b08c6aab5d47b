//! Worker drain rate: orders recorded in MariaDB per second, from a RabbitMQ queue holding
//! `n` orders, beside the same orders recorded without the queue and the stock store, and
//! MariaDB's raw multi-row insert of the same rows.

use crate::sale::{fresh_db, Sale, AMQP};
use crate::table::{ratio, Table};
use flashsale_core::domain::{new_order_id, now_unix_ms, OrderMessage};
use flashsale_core::queue::{AmqpConsumer, AmqpQueue, OrderQueue};
use flashsale_core::stock::StockStore;
use flashsale_order_worker::{drain, DrainOptions, DrainStats};
use flashsale_testkit::require;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

const BATCH: usize = 200;

pub async fn run(n: usize) -> anyhow::Result<()> {
    require("MariaDB", "127.0.0.1:3306");
    require("Redis", "127.0.0.1:6379");
    require("RabbitMQ", "127.0.0.1:5672");
    eprintln!("drain: preparing {n} orders");

    let raw = raw_insert(n).await?;
    let direct = record_directly(n).await?;
    let (publish, worker) = through_the_worker(n).await?;

    let mut table = Table::new(&["measurement", "orders/s", "vs raw INSERT"]);
    let rate = |secs: f64| n as f64 / secs;
    table.row(vec![
        "MariaDB raw multi-row INSERT (reference)".into(),
        format!("{:.0}", rate(raw)),
        "1.00x".into(),
    ]);
    table.row(vec![
        format!("record_orders, batches of {BATCH} (no queue)"),
        format!("{:.0}", rate(direct)),
        ratio(rate(direct), rate(raw)),
    ]);
    table.row(vec![
        "worker: RabbitMQ -> claim in Redis -> MariaDB -> ack".into(),
        format!("{:.0}", rate(worker)),
        ratio(rate(worker), rate(raw)),
    ]);
    table.row(vec![
        "(gateway side) publish with confirms, 256 in flight".into(),
        format!("{:.0}", rate(publish)),
        ratio(rate(publish), rate(raw)),
    ]);
    table.print(&format!("Worker drain, {n} orders into MariaDB"));
    Ok(())
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

/// Seconds to insert `n` order rows with multi-row INSERTs of `BATCH` rows, nothing else.
async fn raw_insert(n: usize) -> anyhow::Result<f64> {
    let (database, db, product_id) = fresh_db(n as i64).await?;
    db.close().await;
    let pool = sqlx::MySqlPool::connect(&database.url).await?;
    let all = orders(n, product_id);
    let started = Instant::now();
    for chunk in all.chunks(BATCH) {
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
    for chunk in all.chunks(BATCH) {
        db.record_orders(chunk).await?;
    }
    let secs = started.elapsed().as_secs_f64();
    db.close().await;
    Ok(secs)
}

/// Seconds to publish `n` reserved orders, and seconds for the worker to drain them.
async fn through_the_worker(n: usize) -> anyhow::Result<(f64, f64)> {
    let sale = Sale::open(n as i64).await?;
    let (db, product_id, stock, queue_name) = (
        sale.db.clone(),
        sale.product_id,
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
        batch: BATCH,
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
