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
use flashsale_gateway::buy::Clock;
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

/// What a caller hands the stack instead of letting it make its own: listeners it bound
/// (a ring's members name each other before any of them starts) and the gateway's clock (an
/// in-process test moves it past a cooldown). Whatever is left out, the stack makes from the
/// config: a listen address with port 0 is bound to a free port.
#[derive(Default)]
pub struct Provided {
    /// The gateway's listener, in place of binding `gateway_listen` (which still names this
    /// node on a ring: give it the listener's address).
    pub gateway: Option<std::net::TcpListener>,
    /// The metrics' listener, in place of binding `metrics_listen`.
    pub metrics: Option<std::net::TcpListener>,
    pub clock: Clock,
}

pub struct Stack {
    pub db: Db,
    pub gateway_url: String,
    /// The address the gateway listens on (the bound one, when the config said port 0).
    pub gateway_addr: Option<String>,
    /// Where `/metrics` answers: the gateway's, or a worker process's.
    pub metrics_addr: Option<String>,
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
        Self::start_provided(config, parts, Provided::default()).await
    }

    /// [`Stack::start_parts`] with what the caller provides.
    pub async fn start_provided(
        config: &Config,
        parts: Parts,
        provided: Provided,
    ) -> anyhow::Result<Stack> {
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
        // Bound first, so what defaults to the gateway's address (this node's ring name, the
        // site's URL) is the bound one when the config asks for any free port.
        let Provided {
            gateway: gateway_listener,
            metrics: metrics_listener,
            clock,
        } = provided;
        let mut config = config.clone();
        let gateway_listener = match (parts.gateway, gateway_listener) {
            (false, _) => None,
            (true, Some(given)) => Some(given),
            (true, None) if any_port(&config.gateway_listen) => {
                let listener = bind(&config.gateway_listen, "the gateway")?;
                config.gateway_listen = listener.local_addr()?.to_string();
                Some(listener)
            }
            // Named as configured (a ring may name this node by its host name).
            (true, None) => Some(bind(&config.gateway_listen, "the gateway")?),
        };
        // A worker process serves its health and metrics on metrics_listen; in `up` that port
        // is the gateway's.
        let metrics_listener = match (parts.gateway || parts.worker, metrics_listener) {
            (false, _) => None,
            (true, Some(given)) => Some(given),
            (true, None) => match &config.metrics_listen {
                Some(addr) => Some(bind(addr, "the metrics")?),
                None => None,
            },
        };
        let metrics_addr = match &metrics_listener {
            Some(listener) => Some(listener.local_addr()?.to_string()),
            None => None,
        };
        let config = &config;
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

        let (worker_metrics, gateway_metrics) = if parts.gateway {
            (None, metrics_listener)
        } else {
            (metrics_listener, None)
        };
        let worker_metrics = match worker_metrics {
            Some(listener) => {
                let addr = listener.local_addr()?;
                listener.set_nonblocking(true)?;
                let listener = tokio::net::TcpListener::from_std(listener)?;
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
            None => None,
        };

        let mut running_shop = None;
        let gateway = if parts.gateway {
            if crate::demo::seed_if_empty(&db).await? {
                tracing::info!("seeded the demo catalogue");
            }
            render_site(config, &db).await?;
            stock_sync::load_all_missing(&db, stock.as_ref()).await?;
            let secret = config.cookie_secret()?;
            let shop = Shop::with_clock(
                ShopParts {
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
                },
                clock,
            )
            .await?;
            running_shop = Some(shop.clone());
            // Bound before, so the address answers (connections wait in the backlog) as soon
            // as this returns: no polling for the listen.
            gateway_listener
                .map(|listener| {
                    flashsale_gateway::spawn(
                        shop,
                        listener,
                        config.gateway_threads,
                        gateway_metrics,
                    )
                })
                .transpose()?
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
            gateway_addr: gateway.as_ref().map(|g| g.listen.clone()),
            metrics_addr,
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

/// Whether `addr` asks for any free port (`host:0`).
fn any_port(addr: &str) -> bool {
    addr.rsplit_once(':').is_some_and(|(_, port)| port == "0")
}

/// Binds `addr` (port 0: any free port) for `what`.
fn bind(addr: &str, what: &str) -> anyhow::Result<std::net::TcpListener> {
    std::net::TcpListener::bind(addr).with_context(|| format!("{what} cannot listen on {addr}"))
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
    /// `host:port` it listens on (the bound one, when the config said port 0).
    pub addr: String,
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
    let addr = listener.local_addr()?.to_string();
    let url = format!("http://{addr}");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(flashsale_admin::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    tracing::info!(%url, "admin listening");
    Ok(RunningAdmin {
        url,
        addr,
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
