//! Consuming, used by the worker: batches of deliveries, acknowledged after their commit.

use super::{
    dead_letter_queue, io_timeout, OwnedConnection, Target, DEFAULT_CONNECT_TIMEOUT, PERSISTENT,
    SETTLE_TIMEOUT,
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
use std::future::Future;
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
    /// The ackers of each batch handed out and not yet acked or given back, by receipt.
    /// Ackers are bound to the channel that delivered them: after that channel is gone they
    /// refuse, and the broker redelivers the messages instead.
    unacked: HashMap<u64, Vec<Acker>>,
    next_receipt: u64,
    /// Whether the last connect failed, so an outage is logged once.
    failing: bool,
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
            unacked: HashMap::new(),
            next_receipt: 1,
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
        self.unacked.clear();
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
        self.unacked.clear();
        self.target.unavailable(what, why)
    }
}

/// Keeps a good delivery for the batch; dead-letters one that is not an order.
async fn sort_delivery(
    queue: &str,
    delivery: Delivery,
    orders: &mut Vec<OrderMessage>,
    ackers: &mut Vec<Acker>,
) {
    if !delivery.acker.usable() {
        // Its channel is gone: the broker will deliver it again on a new one.
        return;
    }
    match serde_json::from_slice::<OrderMessage>(&delivery.data) {
        Ok(order) => {
            orders.push(order);
            ackers.push(delivery.acker);
        }
        Err(e) => {
            // Position and category only: serde's message may quote parts of the body.
            tracing::warn!(
                queue,
                delivery_tag = delivery.delivery_tag,
                bytes = delivery.data.len(),
                category = ?e.classify(),
                line = e.line(),
                column = e.column(),
                "a message on the order queue is not an order; dead-lettering it"
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
        }
    }
}

#[async_trait]
impl OrderConsumer for AmqpConsumer {
    async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<Batch, QueueError> {
        self.ensure_link().await?;
        let deadline = Instant::now() + wait;
        let mut orders = Vec::new();
        let mut ackers = Vec::new();
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
                    sort_delivery(&queue, delivery, &mut orders, &mut ackers).await;
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
        self.unacked.insert(receipt, ackers);
        Ok(Batch { orders, receipt })
    }

    async fn ack(&mut self, batch: Batch) -> Result<(), QueueError> {
        settle(self, batch, "acknowledge", |acker| async move {
            acker.ack(BasicAckOptions::default()).await
        })
        .await
    }

    fn split(&mut self, batch: Batch) -> Vec<Batch> {
        let mut ackers = self
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
                let receipt = match ackers.next() {
                    Some(acker) => {
                        let receipt = self.next_receipt;
                        self.next_receipt += 1;
                        self.unacked.insert(receipt, vec![acker]);
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
            let body = serde_json::to_vec(order)
                .map_err(|e| QueueError::Unavailable(format!("cannot encode the order: {e}")))?;
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
        settle(self, batch, "give back", |acker| async move {
            acker
                .nack(BasicNackOptions {
                    multiple: false,
                    requeue: true,
                })
                .await
        })
        .await
    }
}

/// Acks or nacks every message of a batch, one by one: tags are settled individually because
/// a `multiple` ack of the highest tag would also settle any lower tag not handed out yet.
async fn settle<F, Fut>(
    consumer: &mut AmqpConsumer,
    batch: Batch,
    what: &str,
    each: F,
) -> Result<(), QueueError>
where
    F: Fn(Acker) -> Fut,
    Fut: Future<Output = lapin::Result<bool>>,
{
    let Some(ackers) = consumer.unacked.remove(&batch.receipt) else {
        if batch.orders.is_empty() {
            return Ok(());
        }
        return Err(consumer.target.unavailable(
            &format!("cannot {what} the batch"),
            "the channel that delivered it is gone; the broker redelivers it",
        ));
    };
    // All the batch's acks go out together: awaiting each in turn costs a round of the I/O
    // loop per message. A connection lapin gave up on can leave a promise pending forever,
    // so the whole settlement is bounded.
    let all = futures::future::join_all(ackers.into_iter().map(each));
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
