//! Publishing, used by the gateway: orders grouped ([`GroupCommit`]) into one persistent
//! message per group, on one confirm-mode channel shared by all groups.

use super::{
    encode, OwnedConnection, Target, DEFAULT_CONFIRM_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, PERSISTENT,
    RECONNECT_PAUSE,
};
use crate::domain::OrderMessage;
use crate::queue::group_commit::{GroupCommit, GroupError, GroupOptions, GroupWriter};
use crate::queue::{OrderQueue, QueueError};
use async_trait::async_trait;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Confirmation};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::{timeout, timeout_at, Instant};

/// How orders are grouped unless told otherwise: a group waits at most a millisecond for
/// company, and two groups may await their confirms at once, so a group forms while the
/// previous one is on its way.
pub const DEFAULT_GROUPING: GroupOptions = GroupOptions {
    max_items: 500,
    linger: Duration::from_millis(1),
    in_flight: 2,
};

/// The publishing handle, used by the gateway. Orders submitted together share a message;
/// one connection and one confirm-mode channel carry them, replaced lazily when it breaks.
pub struct AmqpQueue {
    publisher: Arc<Publisher>,
    grouping: GroupOptions,
    /// Started by the first publish, so the builders below can still set the publisher up.
    group: OnceLock<GroupCommit<OrderMessage, QueueError>>,
}

/// Publishes one group at a time as one message; shared with the group-commit task.
struct Publisher {
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
        let publisher = Publisher {
            target: Target::new(url, queue)?,
            confirm_timeout: DEFAULT_CONFIRM_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            slot: Mutex::new(PublisherSlot::default()),
        };
        let link = publisher
            .open_link(Instant::now() + publisher.connect_timeout)
            .await?;
        publisher.slot.lock().await.link = Some(Arc::new(link));
        Ok(AmqpQueue {
            publisher: Arc::new(publisher),
            grouping: DEFAULT_GROUPING,
            group: OnceLock::new(),
        })
    }

    /// How long a publish waits for the broker's confirm before it counts as failed.
    #[must_use]
    pub fn with_confirm_timeout(mut self, confirm_timeout: Duration) -> Self {
        self.setup().confirm_timeout = confirm_timeout;
        self
    }

    /// How long a publish may spend (re)connecting while the broker is unreachable.
    #[must_use]
    pub fn with_connect_timeout(mut self, connect_timeout: Duration) -> Self {
        self.setup().connect_timeout = connect_timeout;
        self
    }

    /// How orders are grouped into messages.
    #[must_use]
    pub fn with_grouping(mut self, grouping: GroupOptions) -> Self {
        self.grouping = grouping;
        self
    }

    /// The publisher, to set up before the first publish hands it to the group task.
    fn setup(&mut self) -> &mut Publisher {
        // Builders take `self` by value before any publish: `connect` made the only handle.
        Arc::get_mut(&mut self.publisher).expect("builders run before the first publish")
    }
}

impl Publisher {
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
        let group = self.group.get_or_init(|| {
            GroupCommit::spawn(GroupPublisher(self.publisher.clone()), self.grouping)
        });
        match group.submit(order.clone()).await {
            Ok(()) => Ok(()),
            Err(GroupError::Write(e)) => Err(e),
            Err(GroupError::Stopped) => Err(QueueError::Closed),
        }
    }
}

struct GroupPublisher(Arc<Publisher>);

#[async_trait]
impl GroupWriter<OrderMessage> for GroupPublisher {
    type Error = QueueError;

    async fn write(&self, orders: &[OrderMessage]) -> Result<(), QueueError> {
        self.0.publish(orders).await
    }
}

impl Publisher {
    /// One message holding `orders`, confirmed by the broker, or an error for all of them.
    async fn publish(&self, orders: &[OrderMessage]) -> Result<(), QueueError> {
        let link = self.link(Instant::now() + self.connect_timeout).await?;
        let body = encode(orders)?;
        let properties = BasicProperties::default()
            .with_delivery_mode(PERSISTENT)
            .with_content_type("application/json".into());
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
                condemn(
                    "the broker could not route the orders",
                    &returned.reply_text,
                )
            }
            Ok(Ok(Confirmation::Nack(_))) => Err(self
                .target
                .unavailable("the broker refused the orders", "nack")),
            Ok(Ok(Confirmation::NotRequested)) => {
                condemn("the orders were not confirmed", &"confirms are off")
            }
            Ok(Err(e)) => condemn("cannot publish the orders", &e),
            Err(_) => condemn(
                "the broker did not confirm the orders",
                &format_args!("no confirm within {:?}", self.confirm_timeout),
            ),
        }
    }
}
