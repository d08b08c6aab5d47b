//! Choosing the stock store and the order queue by URL (`memory:`, `redis://…`, `amqp://…`).

use anyhow::Context;
use flashsale_core::config::redact_url;
use flashsale_core::queue::{AmqpConsumer, AmqpQueue, OrderConsumer, OrderQueue, OutboxQueue};
use flashsale_core::sessions::{MemorySessions, RedisSessions, SessionStore};
use flashsale_core::stock::{MemoryStock, RedisStock, StockStore};
use flashsale_core::waiting_room::{MemoryRoom, RedisRoom, WaitingRoom};
use flashsale_core::{Config, Db};
use std::sync::Arc;

pub fn is_memory(url: &str) -> bool {
    url == "memory:"
}

pub async fn stock_store(config: &Config) -> anyhow::Result<Arc<dyn StockStore>> {
    if is_memory(&config.stock_url) {
        return Ok(Arc::new(MemoryStock::new()));
    }
    let store = RedisStock::connect(&config.stock_url, &config.stock_prefix)
        .await
        .with_context(|| {
            format!(
                "could not connect to the stock store at {}",
                redact_url(&config.stock_url)
            )
        })?;
    Ok(Arc::new(store))
}

/// Where revoked sessions are shared: beside the stock (Redis, or memory in one process).
pub async fn session_store(config: &Config) -> anyhow::Result<Arc<dyn SessionStore>> {
    if is_memory(&config.stock_url) {
        return Ok(Arc::new(MemorySessions::new()));
    }
    let store = RedisSessions::connect(&config.stock_url, &config.stock_prefix)
        .await
        .with_context(|| {
            format!(
                "could not connect to the session store at {}",
                redact_url(&config.stock_url)
            )
        })?;
    Ok(Arc::new(store))
}

/// The waiting rooms' store: where the stock lives (`stock_url`, under `stock_prefix`).
pub async fn waiting_room(config: &Config) -> anyhow::Result<Arc<dyn WaitingRoom>> {
    if is_memory(&config.stock_url) {
        return Ok(Arc::new(MemoryRoom::new()));
    }
    let store = RedisRoom::connect(&config.stock_url, &config.stock_prefix)
        .await
        .with_context(|| {
            format!(
                "could not connect to the waiting rooms' store at {}",
                redact_url(&config.stock_url)
            )
        })?;
    Ok(Arc::new(store))
}

/// The order queue as the gateway and the worker of one deployment see it.
pub enum Queue {
    /// `memory:`: the outbox table in the shop's database, drained by this process's worker
    /// (the gateway and the worker must share the process).
    Outbox(OutboxQueue),
    Amqp {
        url: String,
        name: String,
        prefetch: u16,
    },
}

impl Queue {
    /// The queue `config` names; the embedded one lives in `db`. Call it inside the runtime.
    pub fn from_config(config: &Config, db: &Db) -> Queue {
        if is_memory(&config.queue_url) {
            Queue::Outbox(OutboxQueue::new(db.clone()))
        } else {
            Queue::Amqp {
                url: config.queue_url.clone(),
                name: config.queue_name.clone(),
                prefetch: config.worker_prefetch,
            }
        }
    }

    pub async fn publisher(&self) -> anyhow::Result<Arc<dyn OrderQueue>> {
        Ok(match self {
            Queue::Outbox(queue) => Arc::new(queue.clone()),
            Queue::Amqp { url, name, .. } => {
                Arc::new(AmqpQueue::connect(url, name).await.with_context(|| {
                    format!(
                        "could not connect to the order queue at {}",
                        redact_url(url)
                    )
                })?)
            }
        })
    }

    pub async fn consumer(&self) -> anyhow::Result<Box<dyn OrderConsumer>> {
        Ok(match self {
            Queue::Outbox(queue) => Box::new(queue.consumer()),
            Queue::Amqp {
                url,
                name,
                prefetch,
            } => Box::new(
                AmqpConsumer::connect(url, name, *prefetch)
                    .await
                    .with_context(|| {
                        format!(
                            "could not connect to the order queue at {}",
                            redact_url(url)
                        )
                    })?,
            ),
        })
    }
}

/// (orders waiting, orders dead-lettered) on a RabbitMQ queue, counted in the messages (each
/// carries a group of orders). Orders a worker holds unacknowledged are not counted: audit a
/// quiet shop.
pub async fn queue_counts(url: &str, name: &str) -> anyhow::Result<(u64, u64)> {
    flashsale_core::queue::queue_orders(url, name)
        .await
        .with_context(|| format!("could not inspect the queue {name} at {}", redact_url(url)))
}
