//! The drain loop.
//!
//! A batch is acknowledged only after its transaction committed, so a crash between the two
//! redelivers the batch, and the database's unique keys make the second recording a no-op.

use flashsale_core::db::Recorded;
use flashsale_core::queue::{OrderConsumer, QueueError};
use flashsale_core::Db;
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
}

/// Drains `consumer` into `db` until the queue is closed and empty, or `stop` turns true
/// (then the batch in flight is finished first).
pub async fn drain(
    db: &Db,
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
            Err(e) => return Err(e),
        };
        if batch.orders.is_empty() {
            continue;
        }
        let span = tracing::debug_span!("batch", orders = batch.orders.len());
        let _enter = span.enter();
        match db.record_orders(&batch.orders).await {
            Ok(outcomes) => {
                consumer.ack(batch).await?;
                count(stats, &outcomes);
                backoff = Duration::from_millis(50);
            }
            Err(e) => {
                tracing::warn!(
                    error = %error_chain(&e),
                    retry_in_ms = backoff.as_millis() as u64,
                    "could not record a batch of orders; it stays on the queue"
                );
                consumer.retry(batch).await?;
                // Sleep, but wake early for a stop request.
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => {}
                }
                backoff = (backoff * 2).min(options.max_backoff);
            }
        }
    }
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
        drain(&db, &mut queue.consumer(), &options, &stats, stop)
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
