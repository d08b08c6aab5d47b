//! The RabbitMQ queue (lapin): what carries orders between separate gateway and worker
//! processes, and keeps them across a crash of either.
//!
//! Guarantees:
//!
//! - Orders published together (within a millisecond or so, see [`GroupCommit`]) travel as one
//!   persistent message whose body is the JSON array of the group's orders.
//!   [`AmqpQueue::publish`] returns `Ok` only after the broker confirmed the order's message
//!   (publisher confirms) as routed to the durable queue and stored persistently. A nack, a returned
//!   (unroutable) message, a broken connection or no confirm within the deadline is
//!   `Err(QueueError::Unavailable)` for every order of the group: "not known to be queued". The
//!   gateway then gives each reservation back. In the rare case where the broker did store it but its confirm was lost,
//!   the worker still inserts the order; the database's unique keys and stock check keep that
//!   from selling a unit twice.
//! - The worker acknowledges a batch ([`OrderConsumer::ack`]) only after committing it; a
//!   message is acked once every order in it is settled, and given back whole if any of its
//!   orders is (its recorded orders then come again as duplicates). Until
//!   then the messages stay on the broker: a batch given back ([`OrderConsumer::retry`]), a
//!   consumer that dies or a connection that breaks all mean the broker delivers the same
//!   orders again, possibly to another worker. Delivery is therefore at least once; the
//!   worker's idempotent insert turns a redelivery into a no-op.
//! - A message whose body is not a list of [`OrderMessage`]s (or a single one, as gateways
//!   before group commit sent) is never handed to the worker: it is rejected without requeue
//!   and lands in the dead-letter queue for a human to look at.
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
//!
//! [`GroupCommit`]: crate::queue::group_commit::GroupCommit

mod admin;
mod consume;
mod publish;

pub use admin::{delete_queues, queue_depth, queue_orders};
pub use consume::AmqpConsumer;
pub use publish::{AmqpQueue, DEFAULT_GROUPING};

use crate::config::redact_url;
use crate::domain::OrderMessage;
use crate::queue::QueueError;
use lapin::options::QueueDeclareOptions;
use lapin::types::{AMQPValue, FieldTable};
use lapin::uri::AMQPUri;
use lapin::{Channel, Connection, ConnectionProperties};
use std::future::Future;
use std::task::{Context, Waker};
use std::time::Duration;
use tokio::time::{timeout_at, Instant};

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

/// A message's body: the JSON array of its orders.
fn encode(orders: &[OrderMessage]) -> Result<Vec<u8>, QueueError> {
    serde_json::to_vec(orders)
        .map_err(|e| QueueError::Unavailable(format!("cannot encode the orders: {e}")))
}

/// The orders of a message: a JSON array, or one order object (a gateway from before group
/// commit). An empty list is an error: a message carries at least one order.
fn decode(body: &[u8]) -> Result<Vec<OrderMessage>, serde_json::Error> {
    let orders = match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => serde_json::from_slice::<Vec<OrderMessage>>(body)?,
        _ => vec![serde_json::from_slice::<OrderMessage>(body)?],
    };
    if orders.is_empty() {
        return Err(serde::de::Error::invalid_length(0, &"at least one order"));
    }
    Ok(orders)
}

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

    fn order(n: i64) -> OrderMessage {
        OrderMessage {
            order_id: crate::domain::new_order_id(),
            user_id: n,
            product_id: 7,
            accepted_at: n,
        }
    }

    #[test]
    fn a_group_decodes_to_its_orders_and_a_lone_order_to_a_group_of_one() {
        let group = vec![order(1), order(2)];
        assert_eq!(
            decode(&encode(&group).expect("encode")).expect("decode"),
            group
        );
        let lone = serde_json::to_vec(&group[0]).expect("json");
        assert_eq!(decode(&lone).expect("decode"), vec![group[0].clone()]);
    }

    #[test]
    fn an_empty_or_malformed_body_is_no_order() {
        for body in [
            &b"[]"[..],
            b" [ ] ",
            b"not json",
            br#"[{"orderId": 5}]"#,
            b"",
        ] {
            assert!(decode(body).is_err(), "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn the_dead_letter_queue_is_named_after_the_queue() {
        assert_eq!(dead_letter_queue("orders"), "orders.dead");
    }
}
