//! A ring of gateways in this process, on loopback, selling a [`Sale`] through Redis and
//! RabbitMQ. With two (section 3), node A receives the load and forwards B's shoppers there;
//! section 10 puts nginx in front of a ring of three, and of one.

use crate::sale::{Sale, AMQP};
use flashsale_core::queue::AmqpQueue;
use flashsale_core::stock::StockStore;
use flashsale_core::{Ring, SignCodec};
use flashsale_gateway::cluster::Cluster;
use flashsale_gateway::{GatewayHandle, Shop, ShopParts};
use std::sync::Arc;
use std::time::Duration;

/// The cooldown of the contract's default.
pub const COOLDOWN: Duration = Duration::from_secs(10);

pub struct Gateways {
    /// `host:port` of A, then B (and any more).
    pub nodes: Vec<String>,
    pub codec: SignCodec,
    /// Each node's shop, for its metrics.
    shops: Vec<Arc<Shop>>,
    handles: Vec<GatewayHandle>,
    _dist: tempfile::TempDir,
}

impl Gateways {
    /// Starts A and B for `sale` with a per-shopper `cooldown`, each with its own RabbitMQ
    /// publisher, as separate processes would have.
    pub async fn start(sale: &Sale, cooldown: Duration) -> anyhow::Result<Gateways> {
        Gateways::start_ring(sale, cooldown, 2).await
    }

    /// A ring of `n` gateways (one is a gateway alone).
    pub async fn start_ring(sale: &Sale, cooldown: Duration, n: usize) -> anyhow::Result<Gateways> {
        let dist = tempfile::tempdir()?;
        let codec = SignCodec::new(1, flashsale_core::config::random_secret().as_bytes());
        let cluster_secret = flashsale_core::config::random_secret();
        // Bound here: each node names the others before any starts.
        let (listeners, nodes): (Vec<_>, Vec<String>) = (0..n)
            .map(|_| flashsale_testkit::loopback_listener())
            .unzip();
        let stock: Arc<dyn StockStore> = sale.stock.clone();
        let mut handles = Vec::new();
        let mut shops = Vec::new();
        for (node, listener) in nodes.iter().zip(listeners) {
            let shop = Shop::new(ShopParts {
                db: sale.db.clone(),
                stock: stock.clone(),
                queue: Arc::new(AmqpQueue::connect(AMQP, &sale.queue).await?),
                codec: codec.clone(),
                session_ttl: Duration::from_secs(3600),
                cooldown,
                cooldown_capacity: 4_000_000,
                dist: dist.path().to_path_buf(),
                cluster: Cluster::new(&nodes, 20, node, cluster_secret.as_bytes()),
                sessions: Arc::new(flashsale_core::sessions::MemorySessions::new()),
                limits: flashsale_gateway::throttle::Limits::default(),
                trusted_proxies: Vec::new(),
                cookie_secure: false,
                room: flashsale_gateway::room::RoomParts::in_memory(b"bench"),
            })
            .await?;
            shops.push(shop.clone());
            handles.push(flashsale_gateway::spawn(shop, listener, 0, None)?);
        }
        for node in &nodes {
            crate::http::wait_until_healthy(node, 200).await?;
        }
        Ok(Gateways {
            nodes,
            codec,
            shops,
            handles,
            _dist: dist,
        })
    }

    /// The node that receives the load.
    pub fn a(&self) -> &str {
        &self.nodes[0]
    }

    /// The other node: it owns the shoppers forwarded by A.
    pub fn b(&self) -> &str {
        &self.nodes[1]
    }

    /// The ring as every node computes it.
    pub fn ring(&self) -> Ring {
        Ring::new(&self.nodes, 20)
    }

    /// Over all nodes: (Buys answered, Buys forwarded to their owner), from each node's
    /// Prometheus text as a scrape would read it.
    pub fn buys_and_forwards(&self) -> (u64, u64) {
        let (mut answered, mut forwarded) = (0, 0);
        for shop in &self.shops {
            let text = shop.metrics.render(&shop.cluster);
            for line in text.lines() {
                let value = || line.rsplit(' ').next().and_then(|v| v.parse::<u64>().ok());
                if line.starts_with("flashsale_buy_requests_total{") {
                    answered += value().unwrap_or(0);
                } else if line.starts_with("flashsale_forwarded_requests_total ") {
                    forwarded += value().unwrap_or(0);
                }
            }
        }
        (answered, forwarded)
    }

    pub async fn shutdown(self) -> anyhow::Result<()> {
        let handles = self.handles;
        tokio::task::spawn_blocking(move || handles.into_iter().for_each(|g| g.shutdown())).await?;
        Ok(())
    }
}
