//! The embedded queue (`queue_url = "memory:"`): an outbox table in the shop's own database,
//! drained by the in-process worker.
//!
//! `publish` returns once the order is committed to disk, so a `202` survives a crash of the
//! process (and, with SQLite's `synchronous = FULL`, a power cut). Orders arriving together
//! share one transaction ([`GroupCommit`]): one sync per group, not per order. If the group's
//! commit fails, each of its orders is answered with the error and the gateway withdraws its
//! reservation, as for any failed publish.
//!
//! The worker takes orders oldest first and records them; on SQLite the transaction that
//! records them also deletes them from the outbox (`Db::record_orders`). Its acknowledgement
//! deletes the batch again (idempotent; on MySQL the only delete, and the one that removes
//! orders the gateway withdrew). A crash before the acknowledgement redelivers what is left
//! after the restart, where the database's unique keys make a second recording a no-op. At
//! start the stock store is rebuilt from the orders and this outbox together
//! (`Db::stock_books`).

use super::group_commit::{GroupCommit, GroupError, GroupOptions, GroupWriter};
use super::{Batch, OrderConsumer, OrderQueue, QueueError};
use crate::domain::OrderMessage;
use crate::Db;
use async_trait::async_trait;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Default)]
struct Shared {
    closed: AtomicBool,
    /// Orders were committed (or given back): a waiting consumer looks again.
    arrived: Notify,
}

/// The publishing handle. Clones share one outbox and one group-commit task.
#[derive(Clone)]
pub struct OutboxQueue {
    db: Db,
    group: GroupCommit<OrderMessage, QueueError>,
    shared: Arc<Shared>,
}

/// The consuming handle (one per process: it remembers what it handed out).
pub struct OutboxConsumer {
    db: Db,
    shared: Arc<Shared>,
    in_flight: HashSet<String>,
}

struct OutboxWriter {
    db: Db,
    shared: Arc<Shared>,
}

#[async_trait]
impl GroupWriter<OrderMessage> for OutboxWriter {
    type Error = QueueError;

    async fn write(&self, orders: &[OrderMessage]) -> Result<(), QueueError> {
        self.db.outbox_put(orders).await.map_err(|e| {
            tracing::warn!(orders = orders.len(), error = %chain(&e), "could not commit orders to the outbox");
            unavailable(&e)
        })?;
        self.shared.arrived.notify_one();
        Ok(())
    }
}

impl OutboxQueue {
    /// The outbox of `db`, with the default grouping. Starts the group-commit task: call it
    /// inside a tokio runtime.
    pub fn new(db: Db) -> Self {
        Self::with_options(db, GroupOptions::default())
    }

    pub fn with_options(db: Db, options: GroupOptions) -> Self {
        let shared = Arc::new(Shared::default());
        let writer = OutboxWriter {
            db: db.clone(),
            shared: shared.clone(),
        };
        OutboxQueue {
            db,
            group: GroupCommit::spawn(writer, options),
            shared,
        }
    }

    pub fn consumer(&self) -> OutboxConsumer {
        OutboxConsumer {
            db: self.db.clone(),
            shared: self.shared.clone(),
            in_flight: HashSet::new(),
        }
    }

    /// No more publishes; the consumer drains what is left, then sees `Closed`. Whatever it
    /// does not drain stays in the outbox for the next start.
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.arrived.notify_waiters();
        self.shared.arrived.notify_one();
    }

    /// Orders waiting (not yet recorded) and dead letters.
    pub async fn counts(&self) -> Result<crate::db::OutboxCounts, QueueError> {
        self.db.outbox_counts().await.map_err(|e| unavailable(&e))
    }

    /// Orders given up on by the worker, with the reason.
    pub async fn dead_letters(&self) -> Result<Vec<(OrderMessage, String)>, QueueError> {
        self.db
            .outbox_dead_letters()
            .await
            .map_err(|e| unavailable(&e))
    }
}

#[async_trait]
impl OrderQueue for OutboxQueue {
    async fn publish(&self, order: &OrderMessage) -> Result<(), QueueError> {
        if self.shared.closed.load(Ordering::SeqCst) {
            return Err(QueueError::Closed);
        }
        match self.group.submit(order.clone()).await {
            Ok(()) => Ok(()),
            Err(GroupError::Write(e)) => Err(e),
            Err(GroupError::Stopped) => Err(QueueError::Closed),
        }
    }
}

#[async_trait]
impl OrderConsumer for OutboxConsumer {
    async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<Batch, QueueError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered (and the flag read) before looking, so a commit or a close between
            // the look and the wait is not missed.
            let arrived = self.shared.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let closed = self.shared.closed.load(Ordering::SeqCst);
            let orders = self
                .db
                .outbox_take(max, &self.in_flight)
                .await
                .map_err(|e| unavailable(&e))?;
            if !orders.is_empty() {
                self.in_flight
                    .extend(orders.iter().map(|o| o.order_id.clone()));
                return Ok(Batch { orders, receipt: 0 });
            }
            if closed {
                return Err(QueueError::Closed);
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return Ok(Batch {
                    orders: Vec::new(),
                    receipt: 0,
                });
            }
        }
    }

    async fn ack(&mut self, batch: Batch) -> Result<(), QueueError> {
        let ids = self.settle(&batch);
        self.db
            .outbox_remove(&ids.iter().map(String::as_str).collect::<Vec<_>>())
            .await
            .map_err(|e| unavailable(&e))
    }

    async fn retry(&mut self, batch: Batch) -> Result<(), QueueError> {
        self.settle(&batch);
        self.shared.arrived.notify_one();
        Ok(())
    }

    fn split(&mut self, batch: Batch) -> Vec<Batch> {
        batch.into_singles()
    }

    async fn dead_letter(&mut self, batch: Batch, reason: &str) -> Result<(), QueueError> {
        let ids = self.settle(&batch);
        for order in &batch.orders {
            tracing::error!(order_id = %order.order_id, reason, "order moved to the dead letters (outbox)");
        }
        self.db
            .outbox_dead_letter(&ids.iter().map(String::as_str).collect::<Vec<_>>(), reason)
            .await
            .map_err(|e| unavailable(&e))
    }
}

impl OutboxConsumer {
    /// The batch is no longer handed out (whatever happens to it next); its order ids.
    fn settle(&mut self, batch: &Batch) -> Vec<String> {
        batch
            .orders
            .iter()
            .map(|o| {
                self.in_flight.remove(&o.order_id);
                o.order_id.clone()
            })
            .collect()
    }
}

fn unavailable(e: &crate::db::DbError) -> QueueError {
    QueueError::Unavailable(chain(e))
}

/// An error and its causes, one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
