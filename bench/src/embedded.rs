//! A gateway on embedded defaults, as `flashsale up` runs it: SQLite with its outbox (a `202`
//! waits for the order's group commit to disk), stock in memory, and the worker draining the
//! outbox in the same process. Section 3 measures its success path beside the one on Redis and
//! RabbitMQ.

use flashsale_core::domain::NewProduct;
use flashsale_core::queue::OutboxQueue;
use flashsale_core::stock::{MemoryStock, StockStore};
use flashsale_core::{Db, SignCodec};
use flashsale_gateway::cluster::Cluster;
use flashsale_gateway::{GatewayHandle, Shop, ShopParts};
use flashsale_order_worker::{DrainOptions, DrainStats};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Embedded {
    pub addr: String,
    pub codec: SignCodec,
    pub product: i64,
    db: Db,
    queue: OutboxQueue,
    gateway: GatewayHandle,
    stop: watch::Sender<bool>,
    worker: JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Embedded {
    /// One gateway selling one product of `units`, with a per-shopper `cooldown`.
    pub async fn start(units: i64, cooldown: Duration) -> anyhow::Result<Embedded> {
        let dir = tempfile::tempdir()?;
        let db = Db::connect(&format!("sqlite://{}/shop.db", dir.path().display())).await?;
        db.migrate().await?;
        let product = db
            .insert_product(&NewProduct::on_sale_now("bench", units, 1))
            .await?;
        let stock: Arc<dyn StockStore> = Arc::new(MemoryStock::new());
        stock.load(product, units, &[]).await?;
        let queue = OutboxQueue::new(db.clone());
        let (stop, stopped) = watch::channel(false);
        let worker = {
            let (db, stock, mut consumer) = (db.clone(), stock.clone(), queue.consumer());
            tokio::spawn(async move {
                let stats = Arc::new(DrainStats::default());
                let options = DrainOptions::default();
                if let Err(e) = flashsale_order_worker::drain(
                    &db,
                    stock.as_ref(),
                    &mut consumer,
                    &options,
                    &stats,
                    stopped,
                )
                .await
                {
                    eprintln!("the embedded worker stopped: {e}");
                }
            })
        };
        let (listener, addr) = flashsale_testkit::loopback_listener();
        let codec = SignCodec::new(1, flashsale_core::config::random_secret().as_bytes());
        let shop = Shop::new(ShopParts {
            db: db.clone(),
            stock,
            queue: Arc::new(queue.clone()),
            codec: codec.clone(),
            session_ttl: Duration::from_secs(3600),
            cooldown,
            cooldown_capacity: 4_000_000,
            dist: dir.path().join("dist"),
            cluster: Cluster::alone(&addr),
            room: flashsale_gateway::room::RoomParts::in_memory(b"bench"),
            sessions: Arc::new(flashsale_core::sessions::MemorySessions::new()),
            limits: flashsale_gateway::throttle::Limits::default(),
            trusted_proxies: Vec::new(),
            cookie_secure: false,
        })
        .await?;
        let gateway = flashsale_gateway::spawn(shop, listener, 0, None)?;
        crate::http::wait_until_healthy(&addr, 200).await?;
        Ok(Embedded {
            addr,
            codec,
            product,
            db,
            queue,
            gateway,
            stop,
            worker,
            _dir: dir,
        })
    }

    pub async fn shutdown(self) -> anyhow::Result<()> {
        let gateway = self.gateway;
        tokio::task::spawn_blocking(move || gateway.shutdown()).await?;
        let _ = self.stop.send(true);
        self.queue.close();
        let _ = self.worker.await;
        self.db.close().await;
        Ok(())
    }
}
