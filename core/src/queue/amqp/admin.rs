//! Administration: how deep the queues are, how many orders they hold, and deleting them
//! (tests and demos).

use super::{dead_letter_queue, decode, QueueDepth, Target, ADMIN_TIMEOUT};
use crate::queue::QueueError;
use lapin::options::{BasicGetOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use lapin::Channel;
use tokio::time::{timeout_at, Instant};

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

/// Orders (not messages) ready in `queue` and in its dead-letter queue, for the audit. Each
/// ready message is read and left on the queue (taken unacknowledged; closing the channel gives
/// it back), so run it on a quiet shop: a worker taking messages meanwhile makes the count low.
/// A message that is not a list of orders counts as one.
pub async fn queue_orders(url: &str, queue: &str) -> Result<(u64, u64), QueueError> {
    with_channel(url, queue, async |channel: &Channel| {
        let mut counts = [0u64; 2];
        for (name, count) in [queue.to_string(), dead_letter_queue(queue)]
            .iter()
            .zip(&mut counts)
        {
            let passive = QueueDeclareOptions::default().passive();
            let ready = channel
                .queue_declare(name.as_str().into(), passive, FieldTable::default())
                .await?
                .message_count();
            // No more than were ready: a message given back meanwhile is not counted twice.
            for _ in 0..ready {
                let got = channel
                    .basic_get(name.as_str().into(), BasicGetOptions { no_ack: false })
                    .await?;
                let Some(message) = got else { break };
                *count += decode(&message.delivery.data).map_or(1, |orders| orders.len() as u64);
            }
        }
        Ok((counts[0], counts[1]))
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
