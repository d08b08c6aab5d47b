//! The whole shop in one process on embedded backends: what `flashsale up` runs, and what the
//! end-to-end tests start.
//!
//! Start: migrate the database, seed the demo catalogue on first run, render `dist/`, load
//! stock, start the worker and the gateway. Stop: the gateway stops taking requests, then the
//! queue is closed and the worker drains it to the end, so no accepted order is lost.

use anyhow::{bail, Context};
use flashsale_core::queue::MemoryQueue;
use flashsale_core::stock::{load_from_db, MemoryStock, StockStore};
use flashsale_core::{Config, Db, SignCodec};
use flashsale_gateway::{GatewayHandle, Shop, ShopParts};
use flashsale_order_worker::{DrainOptions, DrainStats};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Stack {
    pub db: Db,
    pub gateway_url: String,
    pub worker_stats: Arc<DrainStats>,
    pub queue: MemoryQueue,
    gateway: Option<GatewayHandle>,
    worker: JoinHandle<()>,
}

impl Stack {
    pub async fn start(config: &Config) -> anyhow::Result<Stack> {
        if config.stock_url != "memory:" || config.queue_url != "memory:" {
            bail!(
                "`flashsale up` runs on the embedded stock store and queue (stock_url and queue_url \
                 = \"memory:\"); Redis and RabbitMQ are not supported yet"
            );
        }
        let db = Db::connect(&config.database_url).await?;
        db.migrate()
            .await
            .context("could not migrate the database")?;
        if crate::demo::seed_if_empty(&db).await? {
            tracing::info!("seeded the demo catalogue");
        }

        let products = db.list_products().await?;
        let site = flashsale_sitegen::SiteOptions {
            dist: config.dist.clone(),
            cooldown_secs: config.cooldown_secs,
            shop_name: config.shop_name.clone(),
        };
        let rendered = {
            let products = products.clone();
            tokio::task::spawn_blocking(move || flashsale_sitegen::render_site(&products, &site))
                .await?
                .with_context(|| {
                    format!("could not render the site into {}", config.dist.display())
                })?
        };
        tracing::info!(pages = rendered.pages, dist = %config.dist.display(), "rendered the site");

        let stock = Arc::new(MemoryStock::new());
        for product in &products {
            load_from_db(&db, stock.as_ref(), product)
                .await
                .with_context(|| format!("could not load the stock of product {}", product.id))?;
        }

        let queue = MemoryQueue::new();
        let worker_stats = Arc::new(DrainStats::default());
        let worker = {
            let (db, mut consumer, stats) = (db.clone(), queue.consumer(), worker_stats.clone());
            let options = DrainOptions {
                batch: config.worker_batch,
                ..DrainOptions::default()
            };
            // Never asked to stop early: it ends when the queue is closed and drained.
            let (_keep, never) = watch::channel(false);
            tokio::spawn(async move {
                let _keep = _keep;
                if let Err(e) =
                    flashsale_order_worker::drain(&db, &mut consumer, &options, &stats, never).await
                {
                    tracing::error!(error = %e, "the order worker stopped");
                }
            })
        };

        let secret = config.cookie_secret()?;
        let shop = Shop::new(ShopParts {
            db: db.clone(),
            stock: stock.clone() as Arc<dyn StockStore>,
            queue: Arc::new(queue.clone()),
            codec: SignCodec::new(1, secret.as_bytes()),
            session_ttl: Duration::from_secs(config.session_ttl_secs),
            cooldown: Duration::from_secs(config.cooldown_secs),
            dist: config.dist.clone(),
        })
        .await?;
        let gateway =
            flashsale_gateway::spawn(shop, &config.gateway_listen, config.gateway_threads)?;
        wait_until_listening(&config.gateway_listen).await?;

        Ok(Stack {
            db,
            gateway_url: format!("http://{}", config.gateway_listen),
            worker_stats,
            queue,
            gateway: Some(gateway),
            worker,
        })
    }

    /// Stops the gateway, then drains every accepted order into the database.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(gateway) = self.gateway.take() {
            tokio::task::spawn_blocking(move || gateway.shutdown()).await?;
        }
        let waiting = self.queue.len();
        if waiting > 0 {
            tracing::info!(orders = waiting, "draining accepted orders before exit");
        }
        self.queue.close();
        (&mut self.worker).await?;
        self.db.close().await;
        Ok(())
    }
}

async fn wait_until_listening(addr: &str) -> anyhow::Result<()> {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("the gateway did not start listening on {addr} within 5 s")
}
