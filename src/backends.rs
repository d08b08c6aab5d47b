//! Choosing the stock store and the order queue by URL (`memory:`, `redis://…`, `amqp://…`).

use anyhow::Context;
use flashsale_core::config::redact_url;
use flashsale_core::queue::{AmqpConsumer, AmqpQueue, MemoryQueue, OrderConsumer, OrderQueue};
use flashsale_core::stock::{MemoryStock, RedisStock, StockStore};
use flashsale_core::waiting_room::{MemoryRoom, RedisRoom, WaitingRoom};
use flashsale_core::Config;
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
    /// In this process only: the gateway and the worker must share it.
    Memory(MemoryQueue),
    Amqp {
        url: String,
        name: String,
        prefetch: u16,
    },
}

impl Queue {
    pub fn from_config(config: &Config) -> Queue {
        if is_memory(&config.queue_url) {
            Queue::Memory(MemoryQueue::new())
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
            Queue::Memory(queue) => Arc::new(queue.clone()),
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
            Queue::Memory(queue) => Box::new(queue.consumer()),
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

/// (orders waiting, orders dead-lettered) on a RabbitMQ queue. Orders a worker holds
/// unacknowledged are not counted: audit a quiet shop.
pub async fn queue_counts(url: &str, name: &str) -> anyhow::Result<(u64, u64)> {
    let depth = flashsale_core::queue::queue_depth(url, name)
        .await
        .with_context(|| format!("could not inspect the queue {name} at {}", redact_url(url)))?;
    Ok((u64::from(depth.ready), u64::from(depth.dead)))
}
