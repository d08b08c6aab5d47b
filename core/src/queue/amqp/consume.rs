//! Consuming, used by the worker: batches of deliveries, acknowledged after their commit.
//!
//! A delivery carries a group of orders. The worker settles orders (a batch, or one order
//! split off it); a delivery is settled with the broker once all its orders are: acked if
//! each was acked or dead-lettered, given back whole if any was given back.

use super::{
    dead_letter_queue, decode, encode, io_timeout, OwnedConnection, Target,
    DEFAULT_CONNECT_TIMEOUT, PERSISTENT, SETTLE_TIMEOUT,
};
use crate::domain::OrderMessage;
use crate::queue::{Batch, OrderConsumer, QueueError};
use async_trait::async_trait;
use lapin::message::{Delivery, DeliveryResult};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    BasicRejectOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Acker, BasicProperties, Channel, Consumer};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{timeout, timeout_at, Instant};

/// The consuming handle, used by the worker: one connection, one channel with a prefetch
/// window, manual acknowledgements.
pub struct AmqpConsumer {
    target: Target,
    prefetch: u16,
    connect_timeout: Duration,
    link: Option<ConsumerLink>,
    /// Deliveries handed out and not yet settled with the broker, by their own key. Ackers
    /// are bound to the channel that delivered them: after that channel is gone they refuse,
    /// and the broker redelivers the messages instead.
    held: HashMap<u64, Held>,
    /// Of each batch handed out and not yet settled, by receipt: the key of the delivery each
    /// of its orders came in.
    unacked: HashMap<u64, Vec<u64>>,
    /// A delivery taken that did not fit in the last batch: the first of the next.
    stashed: Option<(Vec<OrderMessage>, Acker)>,
    next_receipt: u64,
    next_key: u64,
    /// Whether the last connect failed, so an outage is logged once.
    failing: bool,
}

/// A delivery whose orders are out with the worker.
struct Held {
    acker: Acker,
    /// Its orders not settled yet.
    open: usize,
    /// One of its orders was given back: so is the whole delivery, once all are settled.
    give_back: bool,
}

struct ConsumerLink {
    /// Dropping it closes the connection, which makes the broker requeue what it held.
    conn: OwnedConnection,
    channel: Channel,
    /// Kept alive: dropping it would cancel the subscription.
    _consumer: Consumer,
    deliveries: mpsc::UnboundedReceiver<DeliveryResult>,
}

impl ConsumerLink {
    fn usable(&self) -> bool {
        self.conn.0.status().connected() && self.channel.status().connected()
    }
}

impl AmqpConsumer {
    /// Connects, declares the topology and subscribes with at most `prefetch` unacknowledged
    /// messages in flight. Fails if the broker cannot be reached now.
    pub async fn connect(
        url: &str,
        queue: &str,
        prefetch: u16,
    ) -> Result<AmqpConsumer, QueueError> {
        let mut consumer = AmqpConsumer {
            target: Target::new(url, queue)?,
            // Zero would mean "unlimited" to the broker, which is never what a caller wants.
            prefetch: prefetch.max(1),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            link: None,
            held: HashMap::new(),
            unacked: HashMap::new(),
            stashed: None,
            next_receipt: 1,
            next_key: 1,
            failing: false,
        };
        consumer.link = Some(consumer.open_link().await?);
        Ok(consumer)
    }

    /// How long a reconnect may take before `next_batch` gives up for this call.
    #[must_use]
    pub fn with_connect_timeout(mut self, connect_timeout: Duration) -> Self {
        self.connect_timeout = connect_timeout;
        self
    }

    async fn open_link(&self) -> Result<ConsumerLink, QueueError> {
        let deadline = Instant::now() + self.connect_timeout;
        let (conn, channel) = self.target.open("flashsale-consumer", deadline).await?;
        let subscribing = async {
            channel
                .basic_qos(self.prefetch, BasicQosOptions::default())
                .await?;
            channel
                .basic_consume(
                    self.target.queue.as_str().into(),
                    "".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
        };
        let consumer = match timeout_at(deadline, subscribing).await {
            Ok(Ok(consumer)) => consumer,
            Ok(Err(e)) => return Err(self.target.unavailable("cannot subscribe", e)),
            Err(_) => return Err(self.target.unavailable("cannot subscribe", "timed out")),
        };
        let (tx, deliveries) = mpsc::unbounded_channel();
        // lapin calls this closure in delivery order and spawns only the future it returns,
        // so sending here (not in the future) keeps the queue's order. The channel is bounded
        // in practice by the prefetch window.
        consumer.set_delegate(move |delivery: DeliveryResult| {
            let _ = tx.send(delivery);
            std::future::ready(())
        });
        Ok(ConsumerLink {
            conn,
            channel,
            _consumer: consumer,
            deliveries,
        })
    }

    /// The live link, reconnecting if the last one died.
    async fn ensure_link(&mut self) -> Result<(), QueueError> {
        if self.link.as_ref().is_some_and(ConsumerLink::usable) {
            return Ok(());
        }
        if self.link.take().is_some() {
            tracing::warn!(
                queue = %self.target.queue,
                url = %self.target.shown,
                "the RabbitMQ consumer connection broke; unacked batches will be redelivered"
            );
        }
        // Whatever was handed out on the old channel can no longer be acked.
        self.forget();
        match self.open_link().await {
            Ok(link) => {
                if std::mem::take(&mut self.failing) {
                    tracing::info!(queue = %self.target.queue, url = %self.target.shown, "reconnected to RabbitMQ");
                }
                self.link = Some(link);
                Ok(())
            }
            Err(e) => {
                if !std::mem::replace(&mut self.failing, true) {
                    tracing::warn!(error = %e, "RabbitMQ is unreachable; the consumer retries");
                }
                Err(e)
            }
        }
    }

    /// Drops a dead link; the next `next_batch` opens a fresh one.
    fn lost(&mut self, what: &str, why: impl std::fmt::Display) -> QueueError {
        self.link = None;
        self.forget();
        self.target.unavailable(what, why)
    }

    /// Drops every delivery of the old channel: the broker delivers them again.
    fn forget(&mut self) {
        self.held.clear();
        self.unacked.clear();
        self.stashed = None;
    }

    /// Holds a delivery of `orders` for `batch`, noting each order's delivery.
    fn hold(&mut self, orders: usize, acker: Acker, batch: &mut Vec<u64>) {
        let key = self.next_key;
        self.next_key += 1;
        self.held.insert(
            key,
            Held {
                acker,
                open: orders,
                give_back: false,
            },
        );
        batch.extend(std::iter::repeat_n(key, orders));
    }

    /// Settles the orders of `batch` (acked, or given back when `give_back`); returns the
    /// deliveries now settled in full, each with whether it goes back.
    fn settle_orders(
        &mut self,
        batch: &Batch,
        give_back: bool,
        what: &str,
    ) -> Result<Vec<(Acker, bool)>, QueueError> {
        let Some(keys) = self.unacked.remove(&batch.receipt) else {
            if batch.orders.is_empty() {
                return Ok(Vec::new());
            }
            return Err(self.target.unavailable(
                &format!("cannot {what} the batch"),
                "the channel that delivered it is gone; the broker redelivers it",
            ));
        };
        let mut done = Vec::new();
        for key in keys {
            let Some(held) = self.held.get_mut(&key) else {
                continue;
            };
            held.give_back |= give_back;
            held.open = held.open.saturating_sub(1);
            if held.open == 0 {
                if let Some(held) = self.held.remove(&key) {
                    done.push((held.acker, held.give_back));
                }
            }
        }
        Ok(done)
    }
}

/// The orders of a good delivery; `None` for one to skip (its channel is gone) or that is not
/// a list of orders (dead-lettered here).
async fn sort_delivery(queue: &str, delivery: Delivery) -> Option<(Vec<OrderMessage>, Acker)> {
    if !delivery.acker.usable() {
        // Its channel is gone: the broker will deliver it again on a new one.
        return None;
    }
    match decode(&delivery.data) {
        Ok(orders) => Some((orders, delivery.acker)),
        Err(e) => {
            // Position and category only: serde's message may quote parts of the body.
            tracing::warn!(
                queue,
                delivery_tag = delivery.delivery_tag,
                bytes = delivery.data.len(),
                category = ?e.classify(),
                line = e.line(),
                column = e.column(),
                "a message on the order queue is not a list of orders; dead-lettering it"
            );
            let reject = timeout(
                SETTLE_TIMEOUT,
                delivery.acker.reject(BasicRejectOptions { requeue: false }),
            )
            .await;
            if let Err(e) = reject.unwrap_or_else(|_| Err(io_timeout())) {
                // It stays unacked and comes back after a reconnect, to be rejected again.
                tracing::warn!(queue, error = %e, "cannot reject the malformed message");
            }
            None
        }
    }
}

#[async_trait]
impl OrderConsumer for AmqpConsumer {
    async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<Batch, QueueError> {
        self.ensure_link().await?;
        let deadline = Instant::now() + wait;
        let mut orders = Vec::new();
        let mut keys = Vec::new();
        if let Some((first, acker)) = self.stashed.take() {
            self.hold(first.len(), acker, &mut keys);
            orders.extend(first);
        }
        let queue = self.target.queue.clone();
        let broken = loop {
            if orders.len() >= max {
                break None;
            }
            let Some(link) = self.link.as_mut() else {
                break Some("no link".to_string());
            };
            let next = if orders.is_empty() {
                // Wait for the first one (malformed ones skipped) until the deadline...
                match timeout_at(deadline, link.deliveries.recv()).await {
                    Ok(next) => next,
                    Err(_) => {
                        if link.usable() {
                            break None;
                        }
                        break Some("the connection closed".to_string());
                    }
                }
            } else {
                // ...then take only what is already here.
                match link.deliveries.try_recv() {
                    Ok(next) => Some(next),
                    Err(mpsc::error::TryRecvError::Empty) => break None,
                    Err(mpsc::error::TryRecvError::Disconnected) => None,
                }
            };
            match next {
                Some(Ok(Some(delivery))) => {
                    let Some((group, acker)) = sort_delivery(&queue, delivery).await else {
                        continue;
                    };
                    if !orders.is_empty() && orders.len() + group.len() > max {
                        // Whole deliveries only, and at most `max` orders unless one
                        // delivery alone holds more: this one starts the next batch.
                        self.stashed = Some((group, acker));
                        break None;
                    }
                    self.hold(group.len(), acker, &mut keys);
                    orders.extend(group);
                }
                // Cancelled by the broker (queue deleted?) or the delegate is gone.
                Some(Ok(None)) | None => break Some("the subscription ended".to_string()),
                Some(Err(e)) => break Some(e.to_string()),
            }
        };
        if let Some(why) = broken {
            // Orders collected so far were never acked: the broker redelivers them.
            return Err(self.lost("the consumer lost its channel", why));
        }
        if orders.is_empty() {
            return Ok(Batch { orders, receipt: 0 });
        }
        let receipt = self.next_receipt;
        self.next_receipt += 1;
        self.unacked.insert(receipt, keys);
        Ok(Batch { orders, receipt })
    }

    async fn ack(&mut self, batch: Batch) -> Result<(), QueueError> {
        let done = self.settle_orders(&batch, false, "acknowledge")?;
        settle(self, done, "acknowledge").await
    }

    fn split(&mut self, batch: Batch) -> Vec<Batch> {
        let mut keys = self
            .unacked
            .remove(&batch.receipt)
            .unwrap_or_default()
            .into_iter();
        batch
            .orders
            .into_iter()
            .map(|order| {
                // A batch whose channel is gone splits into unsettleable parts (receipt 0):
                // settling them fails and the broker redelivers, as for the whole batch.
                let receipt = match keys.next() {
                    Some(key) => {
                        let receipt = self.next_receipt;
                        self.next_receipt += 1;
                        self.unacked.insert(receipt, vec![key]);
                        receipt
                    }
                    None => 0,
                };
                Batch {
                    orders: vec![order],
                    receipt,
                }
            })
            .collect()
    }

    async fn dead_letter(&mut self, batch: Batch, reason: &str) -> Result<(), QueueError> {
        // A copy with the reason goes to the dead-letter queue, then the original is acked.
        // A crash in between leaves a duplicate in the dead-letter queue, never a loss.
        let dead = dead_letter_queue(&self.target.queue);
        let Some(link) = self.link.as_ref() else {
            return Err(self
                .target
                .unavailable("cannot dead-letter", "no connection"));
        };
        for order in &batch.orders {
            tracing::error!(order_id = %order.order_id, reason, "order moved to the dead-letter queue");
            let body = encode(std::slice::from_ref(order))?;
            let mut headers = FieldTable::default();
            headers.insert(
                "x-flashsale-reason".into(),
                AMQPValue::LongString(reason.into()),
            );
            let properties = BasicProperties::default()
                .with_delivery_mode(PERSISTENT)
                .with_content_type("application/json".into())
                .with_headers(headers);
            let publishing = link.channel.basic_publish(
                "".into(),
                dead.as_str().into(),
                BasicPublishOptions::default(),
                &body,
                properties,
            );
            let published = timeout(SETTLE_TIMEOUT, publishing)
                .await
                .unwrap_or_else(|_| Err(io_timeout()));
            if let Err(e) = published {
                return Err(self.target.unavailable("cannot dead-letter an order", e));
            }
        }
        self.ack(batch).await
    }

    async fn retry(&mut self, batch: Batch) -> Result<(), QueueError> {
        let done = self.settle_orders(&batch, true, "give back")?;
        settle(self, done, "give back").await
    }
}

/// Acks, or gives back, each delivery settled in full: one by one, because a `multiple` ack of
/// the highest tag would also settle any lower tag not handed out yet.
async fn settle(
    consumer: &mut AmqpConsumer,
    deliveries: Vec<(Acker, bool)>,
    what: &str,
) -> Result<(), QueueError> {
    if deliveries.is_empty() {
        return Ok(());
    }
    // All go out together: awaiting each in turn costs a round of the I/O loop per message.
    // A connection lapin gave up on can leave a promise pending forever, so the whole
    // settlement is bounded.
    let all =
        futures::future::join_all(deliveries.into_iter().map(|(acker, give_back)| async move {
            if give_back {
                acker
                    .nack(BasicNackOptions {
                        multiple: false,
                        requeue: true,
                    })
                    .await
            } else {
                acker.ack(BasicAckOptions::default()).await
            }
        }));
    let settled = match timeout(SETTLE_TIMEOUT, all).await {
        Ok(settled) => settled,
        Err(_) => {
            return Err(consumer.lost(
                &format!("cannot {what} the batch"),
                "the broker did not answer in time; it redelivers the batch",
            ))
        }
    };
    for result in settled {
        match result {
            Ok(true) => {}
            Ok(false) => {
                return Err(consumer.lost(
                    &format!("cannot {what} the batch"),
                    "its channel closed; the broker redelivers it",
                ))
            }
            Err(e) => {
                return Err(consumer.lost(
                    &format!("cannot {what} the batch"),
                    format_args!("{e}; the broker redelivers it"),
                ))
            }
        }
    }
    Ok(())
}
