//! A deque in this process, drained by the in-process worker: for tests and benchmarks.
//!
//! It lives as long as the process: a clean shutdown closes it and the worker drains it to the
//! end before the process exits, but a crash loses what it holds. `flashsale up` uses the
//! outbox ([`super::OutboxQueue`]) instead, which keeps every accepted order on disk.

use super::{Batch, OrderConsumer, OrderQueue, QueueError};
use crate::domain::OrderMessage;
use async_trait::async_trait;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    arrived: Notify,
}

#[derive(Default)]
struct State {
    orders: VecDeque<OrderMessage>,
    dead: Vec<(OrderMessage, String)>,
    closed: bool,
}

/// The publishing handle. Clones share one queue.
#[derive(Clone, Default)]
pub struct MemoryQueue {
    shared: Arc<Shared>,
}

/// The consuming handle.
pub struct MemoryConsumer {
    shared: Arc<Shared>,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn consumer(&self) -> MemoryConsumer {
        MemoryConsumer {
            shared: self.shared.clone(),
        }
    }

    /// No more publishes; the consumer drains what is left, then sees `Closed`.
    pub fn close(&self) {
        self.state().closed = true;
        self.shared.arrived.notify_waiters();
        self.shared.arrived.notify_one();
    }

    /// Orders waiting to be taken.
    pub fn len(&self) -> usize {
        self.state().orders.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Orders moved to the dead-letter queue, with the reason.
    pub fn dead_letters(&self) -> Vec<(OrderMessage, String)> {
        self.state().dead.clone()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state()
    }
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a deque and a flag, consistent at every step: a panic elsewhere while
        // holding the lock leaves nothing half-done, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl OrderQueue for MemoryQueue {
    async fn publish(&self, order: &OrderMessage) -> Result<(), QueueError> {
        {
            let mut state = self.state();
            if state.closed {
                return Err(QueueError::Closed);
            }
            state.orders.push_back(order.clone());
        }
        self.shared.arrived.notify_one();
        Ok(())
    }
}

#[async_trait]
impl OrderConsumer for MemoryConsumer {
    async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<Batch, QueueError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before looking, so a publish between the look and the wait is not missed.
            let arrived = self.shared.arrived.notified();
            {
                let mut state = self.shared.state();
                if !state.orders.is_empty() {
                    let take = max.min(state.orders.len());
                    let orders = state.orders.drain(..take).collect();
                    return Ok(Batch { orders, receipt: 0 });
                }
                if state.closed {
                    return Err(QueueError::Closed);
                }
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return Ok(Batch {
                    orders: Vec::new(),
                    receipt: 0,
                });
            }
        }
    }

    async fn ack(&mut self, _batch: Batch) -> Result<(), QueueError> {
        Ok(())
    }

    fn split(&mut self, batch: Batch) -> Vec<Batch> {
        batch.into_singles()
    }

    async fn dead_letter(&mut self, batch: Batch, reason: &str) -> Result<(), QueueError> {
        let mut state = self.shared.state();
        for order in batch.orders {
            tracing::error!(order_id = %order.order_id, reason, "order moved to the dead-letter queue");
            state.dead.push((order, reason.to_string()));
        }
        Ok(())
    }

    async fn retry(&mut self, batch: Batch) -> Result<(), QueueError> {
        let mut state = self.shared.state();
        for order in batch.orders.into_iter().rev() {
            state.orders.push_front(order);
        }
        drop(state);
        self.shared.arrived.notify_one();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(n: i64) -> OrderMessage {
        OrderMessage {
            order_id: format!("{n:032x}"),
            user_id: n,
            product_id: 1,
            accepted_at: 0,
        }
    }

    #[tokio::test]
    async fn batches_keep_order_and_retry_puts_back_in_front() {
        let q = MemoryQueue::new();
        let mut c = q.consumer();
        for n in 0..5 {
            q.publish(&order(n)).await.expect("publish");
        }
        let first = c
            .next_batch(3, Duration::from_millis(10))
            .await
            .expect("batch");
        assert_eq!(
            first.orders.iter().map(|o| o.user_id).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        c.retry(first).await.expect("retry");
        let again = c
            .next_batch(10, Duration::from_millis(10))
            .await
            .expect("batch");
        assert_eq!(
            again.orders.iter().map(|o| o.user_id).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4]
        );
    }

    #[tokio::test]
    async fn close_drains_then_reports_closed() {
        let q = MemoryQueue::new();
        let mut c = q.consumer();
        q.publish(&order(1)).await.expect("publish");
        q.close();
        assert!(q.publish(&order(2)).await.is_err(), "publish after close");
        let b = c
            .next_batch(10, Duration::from_secs(5))
            .await
            .expect("last batch");
        assert_eq!(b.orders.len(), 1);
        assert!(matches!(
            c.next_batch(10, Duration::from_secs(5)).await,
            Err(QueueError::Closed)
        ));
    }

    #[tokio::test]
    async fn an_empty_wait_returns_an_empty_batch() {
        let q = MemoryQueue::new();
        let mut c = q.consumer();
        let b = c
            .next_batch(10, Duration::from_millis(20))
            .await
            .expect("batch");
        assert!(b.orders.is_empty());
    }

    /// On a paused clock, time moves only once every task is idle: when the sleep ends the
    /// consumer is parked waiting, and it must wake on the publish, not on its 10 s timeout.
    #[tokio::test(start_paused = true)]
    async fn a_waiting_consumer_wakes_on_publish() {
        let q = MemoryQueue::new();
        let mut c = q.consumer();
        let started = tokio::time::Instant::now();
        let waiter = tokio::spawn(async move { c.next_batch(10, Duration::from_secs(10)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !waiter.is_finished(),
            "the consumer returned without a message"
        );
        q.publish(&order(9)).await.expect("publish");
        let b = waiter.await.expect("task").expect("batch");
        assert_eq!(b.orders.len(), 1);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "woke on the timeout"
        );
    }
}
