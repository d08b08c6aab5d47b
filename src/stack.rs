//! The shop's parts assembled: what `flashsale up`, `gateway`, `worker` and `admin` run, and
//! what the end-to-end tests start.
//!
//! Start: migrate the database, seed the demo catalogue on first run, render `dist/`, load
//! stock the store does not have yet, start the worker and the gateway. Stop: the gateway
//! stops taking requests, then the worker finishes: with the embedded queue (the outbox) it
//! drains it to the end, with RabbitMQ it finishes the batch in flight and leaves the rest on
//! the durable queue. After a crash, the outbox's orders are drained at the next start, and the
//! in-memory stock store is rebuilt counting them (`stock_sync::load_all_missing`).

use crate::backends::{self, Queue};
use anyhow::{bail, Context};
use flashsale_core::queue::OrderConsumer;
use flashsale_core::stock::StockStore;
use flashsale_core::stock_sync;
use flashsale_core::waiting_room::{ChallengeKey, WaitingRoom};
use flashsale_core::{Config, Db, SignCodec};
use flashsale_gateway::cluster::Cluster;
use flashsale_gateway::room::{RoomParts, RoomSettings};
use flashsale_gateway::{GatewayHandle, Shop, ShopParts};
use flashsale_order_worker::{DrainOptions, DrainStats};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// How long a clean stop waits for the worker to empty the outbox: within systemd's default
/// stop timeout (90 s), and the orders left are safe on disk anyway.
const OUTBOX_DRAIN_AT_EXIT: Duration = Duration::from_secs(30);

/// Which parts run in this process.
#[derive(Debug, Clone, Copy)]
pub struct Parts {
    pub gateway: bool,
    pub worker: bool,
}

impl Parts {
    pub const ALL: Parts = Parts {
        gateway: true,
        worker: true,
    };
}

pub struct Stack {
    pub db: Db,
    pub gateway_url: String,
    pub stock: Arc<dyn StockStore>,
    /// The waiting rooms, beside the stock (the admin pushes rate changes to it).
    pub room: Arc<dyn WaitingRoom>,
    pub worker_stats: Arc<DrainStats>,
    queue: Queue,
    shop: Option<Arc<Shop>>,
    gateway: Option<GatewayHandle>,
    worker: Option<RunningWorker>,
    /// The worker's `/healthz` and `/metrics` (a worker process with `metrics_listen`).
    worker_metrics: Option<(watch::Sender<bool>, JoinHandle<()>)>,
}

impl Stack {
    /// Everything in one process.
    pub async fn start(config: &Config) -> anyhow::Result<Stack> {
        Self::start_parts(config, Parts::ALL).await
    }

    pub async fn start_parts(config: &Config, parts: Parts) -> anyhow::Result<Stack> {
        if backends::is_memory(&config.queue_url) && !(parts.gateway && parts.worker) {
            bail!(
                "the in-memory queue (queue_url = \"memory:\") lives inside one process, so the \
                 gateway and the worker must run together (`flashsale up`); set queue_url to \
                 amqp://… to run them apart"
            );
        }
        if parts.gateway {
            // Only ring members check membership: a worker or admin shares the config.
            config.ring_check()?;
        }
        let db = connect_db(config).await?;
        let queue = Queue::from_config(config, &db);
        let stock = backends::stock_store(config).await?;
        let room = backends::waiting_room(config).await?;

        let worker_stats = Arc::new(DrainStats::default());
        let worker = if parts.worker {
            let consumer = queue.consumer().await?;
            Some(RunningWorker::start(
                db.clone(),
                stock.clone(),
                consumer,
                config,
                worker_stats.clone(),
            ))
        } else {
            None
        };

        // A worker process serves its health and metrics on metrics_listen; in `up` that port
        // is the gateway's.
        let worker_metrics = match (&config.metrics_listen, parts.worker && !parts.gateway) {
            (Some(addr), true) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("the worker's metrics cannot listen on {addr}"))?;
                let (stop, stopped) = watch::channel(false);
                let task = tokio::spawn(flashsale_order_worker::metrics::serve(
                    listener,
                    worker_stats.clone(),
                    queue_depth(&queue),
                    stopped,
                ));
                tracing::info!(%addr, "worker health and metrics listening");
                Some((stop, task))
            }
            _ => None,
        };

        let mut running_shop = None;
        let gateway = if parts.gateway {
            if crate::demo::seed_if_empty(&db).await? {
                tracing::info!("seeded the demo catalogue");
            }
            render_site(config, &db).await?;
            stock_sync::load_all_missing(&db, stock.as_ref()).await?;
            let secret = config.cookie_secret()?;
            let shop = Shop::new(ShopParts {
                db: db.clone(),
                stock: stock.clone(),
                queue: queue.publisher().await?,
                codec: sign_codec(&secret, &config.cookie_secrets_previous()?),
                session_ttl: Duration::from_secs(config.session_ttl_secs),
                cooldown: Duration::from_secs(config.cooldown_secs),
                cooldown_capacity: config.cooldown_capacity,
                dist: config.dist.clone(),
                cluster: Cluster::new(
                    &config.ring_members(),
                    config.virtual_nodes,
                    &config.ring_self(),
                    config.cluster_secret()?.as_bytes(),
                ),
                sessions: backends::session_store(config).await?,
                limits: login_limits(config),
                trusted_proxies: config
                    .trusted_proxy_nets()
                    .map_err(|bad| anyhow::anyhow!("trusted_proxies: bad entry {bad:?}"))?,
                cookie_secure: config.cookie_secure,
                room: RoomParts {
                    store: room.clone(),
                    key: ChallengeKey::derive(secret.as_bytes()),
                    settings: RoomSettings::from_config(config),
                },
            })
            .await?;
            running_shop = Some(shop.clone());
            // Bound here, so the address answers (connections wait in the backlog) as soon as
            // this returns: no polling for the listen.
            let listener =
                std::net::TcpListener::bind(&config.gateway_listen).with_context(|| {
                    format!("the gateway cannot listen on {}", config.gateway_listen)
                })?;
            let gateway = flashsale_gateway::spawn(
                shop,
                listener,
                config.gateway_threads,
                config.metrics_listen.as_deref(),
            )?;
            Some(gateway)
        } else {
            None
        };

        Ok(Stack {
            db,
            gateway_url: format!(
                "http://{}",
                gateway
                    .as_ref()
                    .map_or(config.gateway_listen.as_str(), |g| g.listen.as_str())
            ),
            stock,
            room,
            worker_stats,
            queue,
            shop: running_shop,
            gateway,
            worker,
            worker_metrics,
        })
    }

    /// Replaces the gateway's ring members without a restart (SIGHUP in `flashsale gateway`).
    pub fn set_ring_members(&self, members: &[String], virtual_nodes: u32) -> anyhow::Result<()> {
        let Some(shop) = &self.shop else {
            bail!("no gateway runs in this process");
        };
        shop.cluster
            .set_members(members, virtual_nodes)
            .map_err(|e| anyhow::anyhow!(e))
    }

    /// What the admin of this process runs after a republish: the gateway here serves the
    /// new pages and catalogue before Republish answers. `None` without a gateway.
    pub fn after_publish(&self) -> Option<flashsale_admin::AfterPublish> {
        let shop = self.shop.clone()?;
        Some(Arc::new(move || {
            let shop = shop.clone();
            Box::pin(async move { shop.follow_publish().await })
        }))
    }

    /// Stops the gateway, then the worker (draining the in-memory queue to the end).
    /// How many orders wait on this stack's queue, for the worker's metrics.
    pub fn queue_depth(&self) -> flashsale_order_worker::metrics::QueueDepth {
        queue_depth(&self.queue)
    }

    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some((stop, task)) = self.worker_metrics.take() {
            let _ = stop.send(true);
            let _ = task.await;
        }
        if let Some(gateway) = self.gateway.take() {
            tokio::task::spawn_blocking(move || gateway.shutdown()).await?;
        }
        if let Some(worker) = self.worker.take() {
            match &self.queue {
                Queue::Outbox(queue) => {
                    if let Ok(counts) = queue.counts().await {
                        if counts.waiting > 0 {
                            tracing::info!(
                                orders = counts.waiting,
                                "draining accepted orders before exit"
                            );
                        }
                    }
                    queue.close();
                    // Whatever is not drained in time (a database failing at shutdown) stays
                    // in the outbox for the next start.
                    worker.drain_within(OUTBOX_DRAIN_AT_EXIT).await;
                }
                Queue::Amqp { .. } => worker.stop().await,
            }
        }
        self.db.close().await;
        Ok(())
    }
}

/// Issues with the current cookie secret, still accepts tokens of the previous ones (rotation).
pub fn sign_codec(current: &str, previous: &[String]) -> SignCodec {
    previous
        .iter()
        .fold(SignCodec::new(1, current.as_bytes()), |codec, old| {
            codec.accept_old(1, old.as_bytes())
        })
}

fn login_limits(config: &Config) -> flashsale_gateway::throttle::Limits {
    flashsale_gateway::throttle::Limits {
        failures_per_name: config.login_failures_per_name,
        failures_per_address: config.login_failures_per_address,
        registrations_per_address: config.register_per_address,
        window: Duration::from_secs(config.login_window_secs),
        known_for: Duration::from_secs(config.session_ttl_secs),
    }
}

fn queue_depth(queue: &Queue) -> flashsale_order_worker::metrics::QueueDepth {
    match queue {
        Queue::Outbox(queue) => {
            let queue = queue.clone();
            Arc::new(move || {
                let queue = queue.clone();
                Box::pin(async move { queue.counts().await.ok().map(|c| c.waiting) })
            })
        }
        Queue::Amqp { url, name, .. } => {
            let (url, name) = (url.clone(), name.clone());
            Arc::new(move || {
                let (url, name) = (url.clone(), name.clone());
                Box::pin(async move {
                    flashsale_core::queue::queue_depth(&url, &name)
                        .await
                        .ok()
                        .map(|d| u64::from(d.ready))
                })
            })
        }
    }
}

pub async fn connect_db(config: &Config) -> anyhow::Result<Db> {
    let db = Db::connect(&config.database_url).await?;
    db.migrate()
        .await
        .context("could not migrate the database")?;
    Ok(db)
}

/// How the site is rendered, from the config.
pub fn site_options(config: &Config) -> flashsale_sitegen::SiteOptions {
    let mut site = flashsale_sitegen::SiteOptions::new(
        config.dist.clone(),
        config.cooldown_secs,
        config.shop_name.clone(),
    );
    site.site_url = config.site_url();
    site.queue_prequeue_secs = config.queue_prequeue_secs;
    site.currency = config.currency.clone();
    // Images uploaded in the admin: kept with the shop's data (dist/ can be rebuilt from
    // scratch), published by every render, the CLI's as the admin's.
    site.uploads = Some(config.data_dir.join("uploads"));
    site
}

async fn render_site(config: &Config, db: &Db) -> anyhow::Result<()> {
    let products = db.list_products().await?;
    let site = site_options(config);
    let rendered =
        tokio::task::spawn_blocking(move || flashsale_sitegen::render_site(&products, &site))
            .await?
            .with_context(|| format!("could not render the site into {}", config.dist.display()))?;
    tracing::info!(rendered = rendered.rendered, unchanged = rendered.unchanged, dist = %config.dist.display(), "rendered the site");
    Ok(())
}

/// The order worker running as a task of this process.
pub struct RunningWorker {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RunningWorker {
    pub fn start(
        db: Db,
        stock: Arc<dyn StockStore>,
        mut consumer: Box<dyn OrderConsumer>,
        config: &Config,
        stats: Arc<DrainStats>,
    ) -> RunningWorker {
        let options = DrainOptions {
            batch: config.worker_batch,
            ..DrainOptions::default()
        };
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            if let Err(e) = flashsale_order_worker::drain(
                &db,
                stock.as_ref(),
                consumer.as_mut(),
                &options,
                &stats,
                stopped,
            )
            .await
            {
                tracing::error!(error = %e, "the order worker stopped");
            }
        });
        RunningWorker { stop, task }
    }

    /// Finishes the batch in flight, then returns.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        self.wait().await;
    }

    /// Waits up to `limit` for the worker to end by itself (its queue closed and drained),
    /// then stops it after its batch in flight.
    pub async fn drain_within(self, limit: Duration) {
        let RunningWorker { stop, mut task } = self;
        let ended = tokio::select! {
            ended = &mut task => ended,
            _ = tokio::time::sleep(limit) => {
                tracing::warn!("the outbox was not drained in time; the rest is recorded at the next start");
                let _ = stop.send(true);
                task.await
            }
        };
        if let Err(e) = ended {
            tracing::error!(error = %e, "the order worker panicked");
        }
    }

    /// Waits for the worker to end by itself (the in-memory queue closed and drained).
    pub async fn wait(self) {
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the order worker panicked");
        }
    }
}

/// The admin back-office running as a task of this process.
pub struct RunningAdmin {
    /// `http://host:port` it listens on.
    pub url: String,
    /// What its first run generated (a password, the API token), to show once.
    pub first_run: flashsale_admin::FirstRun,
    pub user: String,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

/// Starts the admin on `admin_listen`, on the same database and stock store as the shop, so
/// its stock edits reach the gateways' reservations. `after_publish` is the gateway of this
/// process, if any ([`Stack::after_publish`]).
pub async fn start_admin(
    config: &Config,
    db: Db,
    stock: Arc<dyn StockStore>,
    room: Arc<dyn WaitingRoom>,
    after_publish: Option<flashsale_admin::AfterPublish>,
) -> anyhow::Result<RunningAdmin> {
    let for_load = config.clone();
    // Hashing a configured password takes a moment: off the async threads.
    let (credentials, first_run) =
        tokio::task::spawn_blocking(move || flashsale_admin::Credentials::load(&for_load))
            .await?
            .context("could not set up the admin's credentials")?;
    let user = credentials.user.clone();
    let state = flashsale_admin::AdminState::new(flashsale_admin::AdminParts {
        db,
        stock,
        room,
        default_admit_per_second: config.queue_admit_per_second,
        time_zone: config.shop_time_zone()?,
        currency: config.currency.clone(),
        // The same options as `flashsale sitegen`, so a republish renders only what changed.
        site: site_options(config),
        credentials,
        after_publish,
    })
    .context("could not load the admin's templates")?;
    let listener = tokio::net::TcpListener::bind(&config.admin_listen)
        .await
        .with_context(|| format!("the admin could not listen on {}", config.admin_listen))?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(flashsale_admin::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    tracing::info!(%url, "admin listening");
    Ok(RunningAdmin {
        url,
        first_run,
        user,
        stop,
        task,
    })
}

impl RunningAdmin {
    /// Stops taking connections and finishes the requests in flight.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "the admin server failed"),
            Err(e) => tracing::error!(error = %e, "the admin server panicked"),
        }
    }
}
