//! The order queue: carries accepted orders from the gateway to the worker.
//!
//! The gateway answers `202` only after [`OrderQueue::publish`] returned `Ok` (for RabbitMQ:
//! after the broker confirmed the message carrying the order's group), so an accepted order is
//! always on the queue. The worker takes
//! batches and acknowledges them only after they are committed to the database; a batch that
//! is not acknowledged comes back.
//!
//! Three implementations: RabbitMQ ([`AmqpQueue`]), the embedded default ([`OutboxQueue`], an
//! outbox table in the shop's database, so `queue_url = "memory:"` keeps a 202 through a crash),
//! and a plain in-process deque ([`MemoryQueue`], for tests and benchmarks; it loses what it
//! holds when the process dies). [`group_commit`] batches writes for any of them.

mod amqp;
pub mod group_commit;
mod memory;
mod outbox;

pub use amqp::{
    dead_letter_queue, delete_queues, queue_depth, queue_orders, AmqpConsumer, AmqpQueue,
    QueueDepth, DEFAULT_CONFIRM_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_GROUPING,
};
pub use memory::{MemoryConsumer, MemoryQueue};
pub use outbox::{OutboxConsumer, OutboxQueue};

use crate::domain::OrderMessage;
use async_trait::async_trait;
use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error)]
pub enum QueueError {
    #[error("the order queue is unavailable: {0}")]
    Unavailable(String),
    #[error("the order queue is closed")]
    Closed,
}

/// The publishing side, used by the gateway.
#[async_trait]
pub trait OrderQueue: Send + Sync + 'static {
    /// Returns once the order is safely on the queue.
    async fn publish(&self, order: &OrderMessage) -> Result<(), QueueError>;
}

/// Orders handed to the worker, to be acknowledged or given back as a whole.
#[derive(Debug)]
pub struct Batch {
    pub orders: Vec<OrderMessage>,
    /// Opaque to the worker: what the queue needs to acknowledge these messages.
    pub receipt: u64,
}

impl Batch {
    /// One batch per order, for queues whose receipt says nothing per order (the outbox and
    /// the in-process deque settle by order id): their [`OrderConsumer::split`].
    pub fn into_singles(self) -> Vec<Batch> {
        self.orders
            .into_iter()
            .map(|order| Batch {
                orders: vec![order],
                receipt: 0,
            })
            .collect()
    }
}

/// The consuming side, used by the worker.
#[async_trait]
pub trait OrderConsumer: Send + 'static {
    /// Waits up to `wait` for orders and returns at most `max` of them (more only when the
    /// queue carries them in one message that alone holds more); an empty batch when none
    /// came. `Err(QueueError::Closed)` once the queue is closed and drained.
    async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<Batch, QueueError>;

    /// The batch is committed: it must never be delivered again.
    async fn ack(&mut self, batch: Batch) -> Result<(), QueueError>;

    /// The batch could not be committed: deliver it again later.
    async fn retry(&mut self, batch: Batch) -> Result<(), QueueError>;

    /// One batch per order, so they can be settled apart (finding the order that fails).
    fn split(&mut self, batch: Batch) -> Vec<Batch>;

    /// The batch's orders cannot be processed: move them to the dead-letter queue with
    /// `reason`, for a person to look at.
    async fn dead_letter(&mut self, batch: Batch, reason: &str) -> Result<(), QueueError>;
}
