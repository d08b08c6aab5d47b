//! The drain loop.
//!
//! Each batch: claim its orders in the stock store (an order the gateway withdrew, because it
//! answered 503, is dropped), record the rest in one transaction, then acknowledge. A crash
//! anywhere redelivers the batch: claims are idempotent, and the database's unique keys make
//! the second recording a no-op.

use flashsale_core::db::Recorded;
use flashsale_core::domain::OrderMessage;
use flashsale_core::queue::{OrderConsumer, QueueError};
use flashsale_core::stock::{Claim, StockError, StockStore};
use flashsale_core::Db;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct DrainOptions {
    /// Orders per transaction.
    pub batch: usize,
    /// How long to wait for a batch to fill before checking for a stop.
    pub wait: Duration,
    /// Longest pause between retries while the database is failing.
    pub max_backoff: Duration,
}

impl Default for DrainOptions {
    fn default() -> Self {
        DrainOptions {
            batch: 200,
            wait: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Running totals, shared so a status page or a test can read them while the worker runs.
#[derive(Debug, Default)]
pub struct DrainStats {
    pub confirmed: AtomicU64,
    pub failed: AtomicU64,
    pub duplicates: AtomicU64,
    /// Orders dropped because the gateway withdrew them.
    pub withdrawn: AtomicU64,
    pub batches: AtomicU64,
}

impl DrainStats {
    pub fn confirmed(&self) -> u64 {
        self.confirmed.load(Ordering::Relaxed)
    }
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }
    pub fn withdrawn(&self) -> u64 {
        self.withdrawn.load(Ordering::Relaxed)
    }
}

/// Drains `consumer` into `db` until the queue is closed and empty, or `stop` turns true
/// (then the batch in flight is finished first).
pub async fn drain(
    db: &Db,
    stock: &dyn StockStore,
    consumer: &mut dyn OrderConsumer,
    options: &DrainOptions,
    stats: &Arc<DrainStats>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), QueueError> {
    let mut backoff = Duration::from_millis(50);
    loop {
        if *stop.borrow() {
            tracing::info!("worker stopping on request");
            return Ok(());
        }
        let batch = match consumer.next_batch(options.batch, options.wait).await {
            Ok(batch) => batch,
            Err(QueueError::Closed) => {
                tracing::info!("order queue closed and drained; worker done");
                return Ok(());
            }
            Err(e) => {
                // The broker is unreachable: what we had not acknowledged comes back to us or
                // another worker. Keep trying until it returns.
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "cannot take orders from the queue");
                pause(&mut stop, backoff).await;
                backoff = (backoff * 2).min(options.max_backoff);
                continue;
            }
        };
        if batch.orders.is_empty() {
            continue;
        }
        let span = tracing::debug_span!("batch", orders = batch.orders.len());
        let _enter = span.enter();
        let recorded = match claim(stock, &batch.orders).await {
            Ok(keep) => db
                .record_orders(&keep)
                .await
                .map(|outcomes| (outcomes, batch.orders.len() - keep.len()))
                .map_err(|e| error_chain(&e)),
            Err(e) => Err(error_chain(&e)),
        };
        match recorded {
            Ok((outcomes, withdrawn)) => {
                if let Err(e) = consumer.ack(batch).await {
                    // Committed but not acknowledged: the batch will be delivered again and
                    // recorded as duplicates, which changes nothing.
                    tracing::warn!(error = %e, "could not acknowledge a committed batch; it will be redelivered");
                }
                count(stats, &outcomes);
                stats
                    .withdrawn
                    .fetch_add(withdrawn as u64, Ordering::Relaxed);
                backoff = Duration::from_millis(50);
            }
            Err(error) => {
                tracing::warn!(
                    %error,
                    retry_in_ms = backoff.as_millis() as u64,
                    "could not record a batch of orders; it stays on the queue"
                );
                if let Err(e) = consumer.retry(batch).await {
                    tracing::warn!(error = %e, "could not give a batch back; the broker redelivers it");
                }
                pause(&mut stop, backoff).await;
                backoff = (backoff * 2).min(options.max_backoff);
            }
        }
    }
}

/// Sleeps for `backoff`, waking early for a stop request.
async fn pause(stop: &mut watch::Receiver<bool>, backoff: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(backoff) => {}
        _ = stop.changed() => {}
    }
}

/// The orders of `batch` to record: those the gateway did not withdraw. One store call per
/// product in the batch (a sale usually has one).
async fn claim(
    stock: &dyn StockStore,
    batch: &[OrderMessage],
) -> Result<Vec<OrderMessage>, StockError> {
    let mut by_product: BTreeMap<i64, Vec<&OrderMessage>> = BTreeMap::new();
    for order in batch {
        by_product.entry(order.product_id).or_default().push(order);
    }
    let mut keep = Vec::with_capacity(batch.len());
    for (product_id, orders) in by_product {
        let pairs: Vec<(i64, &str)> = orders
            .iter()
            .map(|o| (o.user_id, o.order_id.as_str()))
            .collect();
        let claims = stock.claim(product_id, &pairs).await?;
        for (order, claim) in orders.into_iter().zip(claims) {
            match claim {
                Claim::Record => keep.push(order.clone()),
                Claim::Withdrawn => {
                    tracing::info!(order_id = %order.order_id, "dropping an order the gateway withdrew")
                }
            }
        }
    }
    Ok(keep)
}

fn count(stats: &DrainStats, outcomes: &[Recorded]) {
    stats.batches.fetch_add(1, Ordering::Relaxed);
    for outcome in outcomes {
        let counter = match outcome {
            Recorded::Confirmed => &stats.confirmed,
            Recorded::Failed => {
                tracing::warn!("an accepted order found no unit in the database; marked failed");
                &stats.failed
            }
            Recorded::Duplicate => &stats.duplicates,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashsale_core::domain::{new_order_id, NewProduct, OrderMessage};
    use flashsale_core::queue::{MemoryQueue, OrderQueue};
    use flashsale_core::stock::MemoryStock;

    #[tokio::test]
    async fn drains_everything_once_then_stops_when_closed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::connect(&format!("sqlite://{}/w.db", dir.path().display()))
            .await
            .expect("connect");
        db.migrate().await.expect("migrate");
        let pid = db
            .insert_product(&NewProduct {
                name: "p".into(),
                stock: 500,
                price_cents: 1,
                image: String::new(),
                description: String::new(),
                sale_start: None,
                sale_end: None,
            })
            .await
            .expect("insert");
        let queue = MemoryQueue::new();
        let mut orders = Vec::new();
        for user in 0..450 {
            let o = OrderMessage {
                order_id: new_order_id(),
                user_id: user,
                product_id: pid,
                accepted_at: 0,
            };
            queue.publish(&o).await.expect("publish");
            orders.push(o);
        }
        // A redelivered duplicate must not count twice.
        queue.publish(&orders[0]).await.expect("publish");
        queue.close();
        let stats = Arc::new(DrainStats::default());
        let (_stop_tx, stop) = watch::channel(false);
        let options = DrainOptions {
            batch: 100,
            ..DrainOptions::default()
        };
        drain(
            &db,
            &MemoryStock::new(),
            &mut queue.consumer(),
            &options,
            &stats,
            stop,
        )
        .await
        .expect("drain");
        assert_eq!(stats.confirmed(), 450);
        assert_eq!(stats.duplicates(), 1);
        assert_eq!(db.orders_of_product(pid).await.expect("orders").len(), 450);
        assert_eq!(
            db.get_product(pid)
                .await
                .expect("get")
                .expect("exists")
                .stock,
            50
        );
    }
}
