//! The RabbitMQ queue (lapin): what carries orders between separate gateway and worker
//! processes, and keeps them across a crash of either.
//!
//! Guarantees:
//!
//! - [`AmqpQueue::publish`] returns `Ok` only after the broker confirmed the message (publisher
//!   confirms) as routed to the durable queue and stored persistently. A nack, a returned
//!   (unroutable) message, a broken connection or no confirm within the deadline is
//!   `Err(QueueError::Unavailable)`: "not known to be queued". The gateway then gives the
//!   reservation back. In the rare case where the broker did store it but its confirm was lost,
//!   the worker still inserts the order; the database's unique keys and stock check keep that
//!   from selling a unit twice.
//! - The worker acknowledges a batch ([`OrderConsumer::ack`]) only after committing it. Until
//!   then the messages stay on the broker: a batch given back ([`OrderConsumer::retry`]), a
//!   consumer that dies or a connection that breaks all mean the broker delivers the same
//!   orders again, possibly to another worker. Delivery is therefore at least once; the
//!   worker's idempotent insert turns a redelivery into a no-op.
//! - A message whose body is not an [`OrderMessage`] is never handed to the worker: it is
//!   rejected without requeue and lands in the dead-letter queue for a human to look at.
//!
//! Topology, declared idempotently by both sides on every (re)connect: a durable queue
//! `{queue}` with `x-dead-letter-exchange: ""` (the default exchange) and
//! `x-dead-letter-routing-key: {queue}.dead`, and a durable queue `{queue}.dead`. Publishing
//! goes through the default exchange with routing key `{queue}`, `mandatory` set so that a
//! missing queue is an error rather than a silent drop.
//!
//! Neither side uses lapin's automatic recovery: a broken link is dropped and a fresh one is
//! opened (and the topology declared again) by the next call, so a broker outage costs
//! `Err`s while it lasts and nothing afterwards. A publish takes at most the connect timeout
//! (1 s) plus the confirm timeout (2 s) even while the broker is down; `next_batch` returns
//! `Err(Unavailable)` while it cannot reconnect, and never `Closed` (the queue outlives any
//! consumer). A connection that dies silently (no RST) is noticed by the publisher through
//! its confirm deadline and by the consumer through AMQP heartbeats, which the URL can
//! shorten (`?heartbeat=10`).

use super::{Batch, OrderConsumer, OrderQueue, QueueError};
use crate::config::redact_url;
use crate::domain::OrderMessage;
use async_trait::async_trait;
use lapin::message::{Delivery, DeliveryResult};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    BasicRejectOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::uri::AMQPUri;
use lapin::{
    Acker, BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, Consumer,
};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::Duration;
use tokio::sync::{mpsc, Mutex};
use tokio::time::{timeout, timeout_at, Instant};

/// How long a publish waits for the broker's confirm unless told otherwise.
pub const DEFAULT_CONFIRM_TIMEOUT: Duration = Duration::from_secs(2);
/// How long opening a connection (TCP, handshake, topology) may take. Short, because a Buy
/// waits for it while the broker is down.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long an administrative request (depth, delete) may take in all.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(5);
/// After a failed connect, publishes fail at once for this long instead of each trying again:
/// during an outage a storm of Buys must not queue up behind one connect attempt after another.
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);

/// Longest wait for an ack, a nack, a reject or a dead-letter publish on the consumer side.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(2);

/// A timeout, as the lapin error the callers already handle.
fn io_timeout() -> lapin::Error {
    lapin::Error::from(std::io::Error::from(std::io::ErrorKind::TimedOut))
}

/// AMQP persistent delivery mode: the broker writes the message to disk.
const PERSISTENT: u8 = 2;

/// The dead-letter queue of `queue`: where malformed messages end.
pub fn dead_letter_queue(queue: &str) -> String {
    format!("{queue}.dead")
}

/// What a queue holds right now, from a passive declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueDepth {
    /// Messages ready for delivery (not counting those delivered and not yet acknowledged).
    pub ready: u32,
    /// Consumers attached to the queue.
    pub consumers: u32,
    /// Messages ready in the dead-letter queue.
    pub dead: u32,
}

/// Where to connect, parsed once so a bad URL fails at start-up and never reaches a log.
struct Target {
    uri: AMQPUri,
    /// The URL with its password masked, for logs and errors.
    shown: String,
    queue: String,
}

impl Target {
    fn new(url: &str, queue: &str) -> Result<Target, QueueError> {
        let uri = url.parse::<AMQPUri>().map_err(|e| {
            // Neither a malformed URL nor the parser's message (which may quote it) is shown:
            // redaction needs a well-formed URL to find the password.
            let why = if e.contains(url) { "malformed" } else { &e };
            QueueError::Unavailable(format!("invalid AMQP URL (not shown): {why}"))
        })?;
        let shown = redact_url(url);
        // Queue names are AMQP short strings (at most 255 bytes), and ".dead" is appended.
        if queue.is_empty() || queue.len() > 250 {
            return Err(QueueError::Unavailable(format!(
                "invalid queue name {queue:?}: 1 to 250 bytes"
            )));
        }
        Ok(Target {
            uri,
            shown,
            queue: queue.to_string(),
        })
    }

    fn unavailable(&self, what: &str, error: impl std::fmt::Display) -> QueueError {
        QueueError::Unavailable(format!(
            "{what} (queue {} at {}): {error}",
            self.queue, self.shown
        ))
    }

    async fn connect(&self, name: &str, deadline: Instant) -> Result<OwnedConnection, QueueError> {
        let props = ConnectionProperties::default().with_connection_name(name.into());
        let connecting = Connection::connect_uri(self.uri.clone(), props);
        match timeout_at(deadline, connecting).await {
            Ok(Ok(conn)) => Ok(OwnedConnection(conn)),
            Ok(Err(e)) => Err(self.unavailable("cannot connect to RabbitMQ", e)),
            Err(_) => Err(self.unavailable("cannot connect to RabbitMQ", "timed out")),
        }
    }

    /// A connection and one channel with the topology declared, within `deadline`.
    async fn open(
        &self,
        name: &str,
        deadline: Instant,
    ) -> Result<(OwnedConnection, Channel), QueueError> {
        let conn = self.connect(name, deadline).await?;
        let opening = async {
            let channel = conn.0.create_channel().await?;
            declare_topology(&channel, &self.queue).await?;
            Ok::<_, lapin::Error>(channel)
        };
        match timeout_at(deadline, opening).await {
            Ok(Ok(channel)) => Ok((conn, channel)),
            Ok(Err(e)) => Err(self.unavailable("cannot declare the queues", e)),
            Err(_) => Err(self.unavailable("cannot declare the queues", "timed out")),
        }
    }
}

/// A connection closed when dropped. lapin keeps its own handle on every connection that has a
/// channel, so dropping ours alone would leave it open (and a consumer's unacked messages held
/// by the broker) until the process exits.
struct OwnedConnection(Connection);

impl Drop for OwnedConnection {
    fn drop(&mut self) {
        // `Drop` cannot await: the first poll hands the close to lapin's I/O thread, and the
        // broker's reply is not waited for. Already closed is fine.
        let closing = std::pin::pin!(self.0.close(200, "OK".into()));
        let _ = closing.poll(&mut Context::from_waker(Waker::noop()));
    }
}

async fn declare_topology(channel: &Channel, queue: &str) -> lapin::Result<()> {
    let dead = dead_letter_queue(queue);
    // The dead-letter queue first, so a message rejected right after start-up has a home.
    channel
        .queue_declare(
            dead.as_str().into(),
            QueueDeclareOptions::durable(),
            FieldTable::default(),
        )
        .await?;
    let mut args = FieldTable::default();
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString("".into()),
    );
    args.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(dead.as_str().into()),
    );
    channel
        .queue_declare(queue.into(), QueueDeclareOptions::durable(), args)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Publishing

/// The publishing handle, used by the gateway. One connection and one confirm-mode channel,
/// shared by all concurrent publishes; replaced lazily when it breaks.
pub struct AmqpQueue {
    target: Target,
    confirm_timeout: Duration,
    connect_timeout: Duration,
    slot: Mutex<PublisherSlot>,
}

#[derive(Default)]
struct PublisherSlot {
    link: Option<Arc<PublisherLink>>,
    /// When the last connect attempt failed, and why; cleared by a successful connect.
    failed: Option<(Instant, String)>,
}

struct PublisherLink {
    conn: OwnedConnection,
    channel: Channel,
    /// Set when a publish on this link failed in a way that makes it suspect (no confirm,
    /// I/O error, unroutable): the next publish opens a fresh one.
    condemned: AtomicBool,
}

impl PublisherLink {
    fn usable(&self) -> bool {
        !self.condemned.load(Ordering::SeqCst)
            && self.conn.0.status().connected()
            && self.channel.status().connected()
    }
}

impl AmqpQueue {
    /// Connects, declares the topology and enables publisher confirms. Fails if the broker
    /// cannot be reached now, so a misconfigured gateway does not start.
    pub async fn connect(url: &str, queue: &str) -> Result<AmqpQueue, QueueError> {
        let publisher = AmqpQueue {
            target: Target::new(url, queue)?,
            confirm_timeout: DEFAULT_CONFIRM_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            slot: Mutex::new(PublisherSlot::default()),
        };
        let link = publisher
            .open_link(Instant::now() + publisher.connect_timeout)
            .await?;
        publisher.slot.lock().await.link = Some(Arc::new(link));
        Ok(publisher)
    }

    /// How long a publish waits for the broker's confirm before it counts as failed.
    #[must_use]
    pub fn with_confirm_timeout(mut self, confirm_timeout: Duration) -> Self {
        self.confirm_timeout = confirm_timeout;
        self
    }

    /// How long a publish may spend (re)connecting while the broker is unreachable.
    #[must_use]
    pub fn with_connect_timeout(mut self, connect_timeout: Duration) -> Self {
        self.connect_timeout = connect_timeout;
        self
    }

    async fn open_link(&self, deadline: Instant) -> Result<PublisherLink, QueueError> {
        let (conn, channel) = self.target.open("flashsale-publisher", deadline).await?;
        let confirming = timeout_at(
            deadline,
            channel.confirm_select(ConfirmSelectOptions::default()),
        )
        .await;
        match confirming {
            Ok(Ok(())) => Ok(PublisherLink {
                conn,
                channel,
                condemned: AtomicBool::new(false),
            }),
            Ok(Err(e)) => Err(self
                .target
                .unavailable("cannot enable publisher confirms", e)),
            Err(_) => Err(self
                .target
                .unavailable("cannot enable publisher confirms", "timed out")),
        }
    }

    /// The current link, or a fresh one; all within `deadline`, lock wait included.
    async fn link(&self, deadline: Instant) -> Result<Arc<PublisherLink>, QueueError> {
        let mut slot = timeout_at(deadline, self.slot.lock()).await.map_err(|_| {
            self.target
                .unavailable("cannot connect to RabbitMQ", "timed out")
        })?;
        if let Some(link) = &slot.link {
            if link.usable() {
                return Ok(link.clone());
            }
            tracing::warn!(
                queue = %self.target.queue,
                url = %self.target.shown,
                "the RabbitMQ publisher connection broke; reconnecting"
            );
            slot.link = None;
        }
        if let Some((at, why)) = &slot.failed {
            if at.elapsed() < RECONNECT_PAUSE {
                return Err(QueueError::Unavailable(why.clone()));
            }
        }
        match self.open_link(deadline).await {
            Ok(link) => {
                if slot.failed.take().is_some() {
                    tracing::info!(queue = %self.target.queue, url = %self.target.shown, "reconnected to RabbitMQ");
                }
                let link = Arc::new(link);
                slot.link = Some(link.clone());
                Ok(link)
            }
            Err(e) => {
                if slot.failed.is_none() {
                    // Once per outage; the attempts that follow fail the same way.
                    tracing::warn!(error = %e, "RabbitMQ is unreachable; publishes fail until it is back");
                }
                let why = match &e {
                    QueueError::Unavailable(why) => why.clone(),
                    other => other.to_string(),
                };
                slot.failed = Some((Instant::now(), why));
                Err(e)
            }
        }
    }
}

#[async_trait]
impl OrderQueue for AmqpQueue {
    async fn publish(&self, order: &OrderMessage) -> Result<(), QueueError> {
        let link = self.link(Instant::now() + self.connect_timeout).await?;
        let body = serde_json::to_vec(order)
            .map_err(|e| QueueError::Unavailable(format!("cannot encode the order: {e}")))?;
        // try_new: an over-long id would make lapin's `From<&str>` panic.
        let message_id = ShortString::try_new(order.order_id.as_str())
            .map_err(|e| QueueError::Unavailable(format!("cannot publish the order: {e}")))?;
        let properties = BasicProperties::default()
            .with_delivery_mode(PERSISTENT)
            .with_content_type("application/json".into())
            .with_message_id(message_id);
        // Mandatory: without it a message to a missing queue is confirmed and dropped.
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let publishing = async {
            link.channel
                .basic_publish(
                    "".into(),
                    self.target.queue.as_str().into(),
                    options,
                    &body,
                    properties,
                )
                .await?
                .await
        };
        let condemn = |what: &str, why: &dyn std::fmt::Display| {
            link.condemned.store(true, Ordering::SeqCst);
            Err(self.target.unavailable(what, why))
        };
        match timeout(self.confirm_timeout, publishing).await {
            Ok(Ok(Confirmation::Ack(None))) => Ok(()),
            Ok(Ok(Confirmation::Ack(Some(returned)))) => {
                // The queue is gone (deleted by hand?): a fresh link declares it again.
                condemn("the broker could not route the order", &returned.reply_text)
            }
            Ok(Ok(Confirmation::Nack(_))) => Err(self
                .target
                .unavailable("the broker refused the order", "nack")),
            Ok(Ok(Confirmation::NotRequested)) => {
                condemn("the order was not confirmed", &"confirms are off")
            }
            Ok(Err(e)) => condemn("cannot publish the order", &e),
            Err(_) => condemn(
                "the broker did not confirm the order",
                &format_args!("no confirm within {:?}", self.confirm_timeout),
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Consuming

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

// ---------------------------------------------------------------------------------------------
// Administration

/// Opens a short-lived channel, runs `f` on it, closes the connection.
async fn with_channel<T>(
    url: &str,
    queue: &str,
    f: impl AsyncFnOnce(&Channel) -> lapin::Result<T>,
) -> Result<T, QueueError> {
    let target = Target::new(url, queue)?;
    let deadline = Instant::now() + ADMIN_TIMEOUT;
    let conn = target.connect("flashsale-admin", deadline).await?;
    let work = async {
        let channel = conn.0.create_channel().await?;
        let out = f(&channel).await;
        // Closed here, awaited: a close left to `Drop` races the process exit and makes lapin
        // log a spurious connection error.
        let _ = channel.close(200, "OK".into()).await;
        let _ = conn.0.close(200, "OK".into()).await;
        out
    };
    match timeout_at(deadline, work).await {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(e)) => Err(target.unavailable("RabbitMQ request failed", e)),
        Err(_) => Err(target.unavailable("RabbitMQ request failed", "timed out")),
    }
}

/// Ready messages and consumers of `queue`, and ready messages of its dead-letter queue.
/// Passive: fails if the queues do not exist rather than creating them.
pub async fn queue_depth(url: &str, queue: &str) -> Result<QueueDepth, QueueError> {
    with_channel(url, queue, async |channel: &Channel| {
        let passive = QueueDeclareOptions::default().passive();
        let main = channel
            .queue_declare(queue.into(), passive, FieldTable::default())
            .await?;
        let dead = channel
            .queue_declare(
                dead_letter_queue(queue).as_str().into(),
                passive,
                FieldTable::default(),
            )
            .await?;
        Ok(QueueDepth {
            ready: main.message_count(),
            consumers: main.consumer_count(),
            dead: dead.message_count(),
        })
    })
    .await
}

/// Deletes `queue` and its dead-letter queue, messages included (test and demo cleanup).
pub async fn delete_queues(url: &str, queue: &str) -> Result<(), QueueError> {
    with_channel(url, queue, async |channel: &Channel| {
        for name in [queue.to_string(), dead_letter_queue(queue)] {
            channel
                .queue_delete(name.as_str().into(), QueueDeleteOptions::default())
                .await?;
        }
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_url_is_refused_without_showing_the_password() {
        let err = Target::new("amqp//guest:hunter2@host", "q")
            .err()
            .expect("refused");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn errors_show_the_url_without_its_password() {
        let target =
            Target::new("amqp://guest:hunter2@127.0.0.1:5672/%2f", "orders").expect("valid url");
        let err = target.unavailable("cannot connect", "refused").to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("127.0.0.1:5672"), "{err}");
    }

    #[test]
    fn the_dead_letter_queue_is_named_after_the_queue() {
        assert_eq!(dead_letter_queue("orders"), "orders.dead");
    }
}
