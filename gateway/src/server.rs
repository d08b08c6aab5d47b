//! Running the gateway: a pingora server on its own threads, stopped by a signal we own.
//!
//! Tests and `flashsale up` start it in-process and stop it cleanly; `flashsale gateway` stops
//! it on SIGINT/SIGTERM. The shutdown grace period is short so Ctrl-C ends promptly.

use crate::error::StartError;
use crate::proxy::Gateway;
use crate::shop::Shop;
use async_trait::async_trait;
use pingora::listeners::{L4BufferSettings, ListenerConfig};
use pingora::server::configuration::ServerConf;
use pingora::server::{
    ListenFds, RunArgs, Server, ShutdownSignal, ShutdownSignalWatch, ShutdownWatch,
};
use pingora::services::background::{background_service, BackgroundService};
use pingora::services::Service;
use std::os::fd::IntoRawFd;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often the catalogue is reloaded and expired cooldowns are forgotten.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(2);
/// How soon a new publish of the site is served: one stat of the manifest per tick.
const SITE_POLL_EVERY: Duration = Duration::from_millis(250);
/// Bytes an answer may gather before it goes to the socket. pingora's default (1460, one
/// segment) sends a page's header and body in two writes once the body passes a kilobyte;
/// 8 KiB carries a plain product page (about 2 KB) and any compressed page in one write.
const WRITE_BUFFER: usize = 8 * 1024;
/// How often revocations of expired tokens are forgotten.
const SESSION_SWEEP_EVERY: Duration = Duration::from_secs(60);
/// How often each ring peer is asked `/healthz`, and how long it has to answer.
const PEER_CHECK_EVERY: Duration = Duration::from_secs(1);
const PEER_CHECK_TIMEOUT: Duration = Duration::from_millis(500);

/// A running gateway.
pub struct GatewayHandle {
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
    pub listen: String,
}

impl GatewayHandle {
    /// Stops accepting, lets requests in flight finish (briefly), and waits for the threads.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the gateway thread panicked");
            }
        }
    }
}

impl Drop for GatewayHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Starts a gateway for `shop` on `listener` (bound by the caller: tests bind port 0, and
/// the address answers as soon as this returns) with `threads` worker threads (0: one per
/// core), and its Prometheus metrics on `metrics` if given (bound by the caller too).
pub fn spawn(
    shop: Arc<Shop>,
    listener: std::net::TcpListener,
    threads: usize,
    metrics: Option<std::net::TcpListener>,
) -> Result<GatewayHandle, StartError> {
    let listen_error = |addr: String| {
        move |source| StartError::Listen {
            addr: addr.clone(),
            source,
        }
    };
    let listen = listener
        .local_addr()
        .map_err(listen_error("the gateway's listener".into()))?
        .to_string();
    // tokio, which pingora runs on, takes a socket in non-blocking mode.
    listener
        .set_nonblocking(true)
        .map_err(listen_error(listen.clone()))?;

    let conf = ServerConf {
        threads: if threads == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            threads
        },
        grace_period_seconds: Some(1),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let mut proxy =
        pingora::proxy::http_proxy_service(&server.configuration, Gateway::new(shop.clone()));
    proxy.add_listener(
        ListenerConfig::tcp(&listen).l4_buffer(L4BufferSettings::default().write(WRITE_BUFFER)),
    );
    server.add_service(Prebound {
        inner: proxy,
        listen: listen.clone(),
        listener: Some(listener),
    });
    server.add_service(background_service(
        "peer health",
        PeerHealth { shop: shop.clone() },
    ));
    if let Some(listener) = metrics {
        let addr = listener
            .local_addr()
            .map_or_else(|_| "the metrics listener".into(), |a| a.to_string());
        listener.set_nonblocking(true).map_err(listen_error(addr))?;
        server.add_service(background_service(
            "metrics",
            MetricsServer {
                shop: shop.clone(),
                listener: std::sync::Mutex::new(Some(listener)),
            },
        ));
    }
    server.add_service(background_service(
        "site reload",
        SiteReload { shop: shop.clone() },
    ));
    server.add_service(background_service(
        "sessions",
        SessionRefresh { shop: shop.clone() },
    ));
    server.add_service(background_service(
        "waiting rooms",
        RoomRefresh { shop: shop.clone() },
    ));
    server.add_service(background_service("housekeeping", Housekeeping { shop }));

    let (stop, stopped) = watch::channel(false);
    let thread = std::thread::Builder::new()
        .name("gateway".into())
        .spawn(move || {
            server.run(RunArgs {
                shutdown_signal: Box::new(StopSignal(stopped)),
            })
        })
        .map_err(|e| StartError::Server(e.to_string()))?;
    Ok(GatewayHandle {
        stop,
        thread: Some(thread),
        listen,
    })
}

/// A listening service whose socket was bound before the server started. pingora takes
/// listening sockets from a table keyed by address (the one a graceful upgrade fills with the
/// old process's sockets) before it binds one itself: the socket goes into that table under
/// the address the service listens on, and pingora adopts it.
struct Prebound<S> {
    inner: S,
    listen: String,
    listener: Option<std::net::TcpListener>,
}

#[async_trait]
impl<S: Service> Service for Prebound<S> {
    async fn start_service(
        &mut self,
        fds: Option<ListenFds>,
        shutdown: ShutdownWatch,
        listeners_per_fd: usize,
    ) {
        if let (Some(fds), Some(listener)) = (&fds, self.listener.take()) {
            fds.lock().add(self.listen.clone(), listener.into_raw_fd());
        }
        self.inner
            .start_service(fds, shutdown, listeners_per_fd)
            .await
    }

    fn name(&self) -> &str {
        self.inner.name()
    }

    fn threads(&self) -> Option<usize> {
        self.inner.threads()
    }

    fn listen_addresses(&self) -> Option<Vec<String>> {
        self.inner.listen_addresses()
    }
}

struct StopSignal(watch::Receiver<bool>);

#[async_trait]
impl ShutdownSignalWatch for StopSignal {
    async fn recv(&self) -> ShutdownSignal {
        let mut stopped = self.0.clone();
        // A dropped sender also means stop.
        let _ = stopped.wait_for(|stop| *stop).await;
        ShutdownSignal::GracefulTerminate
    }
}

struct Housekeeping {
    shop: Arc<Shop>,
}

#[async_trait]
impl BackgroundService for Housekeeping {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut tick = tokio::time::interval(HOUSEKEEPING_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => {
                    tracing::debug!("housekeeping stopped");
                    return;
                }
            }
            if let Err(e) = self
                .shop
                .catalog
                .refresh(&self.shop.db, self.shop.stock.as_ref())
                .await
            {
                tracing::warn!(error = %e, "could not refresh the catalogue; keeping the last one");
            }
            let now = Instant::now();
            // By the clock the cooldowns were started with.
            self.shop.cooldown.sweep(self.shop.clock.now().instant);
            self.shop.pending.sweep(now);
            self.shop.throttle.sweep(now);
            self.shop.room.sweep();
        }
    }
}

/// Reads every queued product's line from the store (so status and Buy compute the serving
/// position in memory), and notices a queued product selling out (its status says `ended`).
struct RoomRefresh {
    shop: Arc<Shop>,
}

#[async_trait]
impl BackgroundService for RoomRefresh {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut tick = tokio::time::interval(crate::room::REFRESH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            let queued: Vec<_> = self
                .shop
                .catalog
                .all()
                .into_iter()
                .filter(|p| p.queue)
                .collect();
            self.shop
                .room
                .refresh(&queued, flashsale_core::domain::now_unix_ms())
                .await;
            for product in &queued {
                if let Ok(Some(remaining)) = self.shop.stock.remaining(product.id).await {
                    if remaining <= 0 {
                        self.shop.catalog.mark_sold_out(product.id);
                    }
                }
            }
        }
    }
}

/// Pulls the revocations other gateways recorded (see `sessions`), and now and then forgets
/// the ones whose tokens have expired.
struct SessionRefresh {
    shop: Arc<Shop>,
}

#[async_trait]
impl BackgroundService for SessionRefresh {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let sessions = &self.shop.sessions;
        let mut tick = tokio::time::interval(crate::sessions::REFRESH_EVERY);
        let mut failing = false;
        let mut last_sweep = Instant::now();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            match sessions
                .refresh(flashsale_core::domain::now_unix_ms())
                .await
            {
                Ok(()) if failing => {
                    tracing::info!("revoked sessions can be read again");
                    failing = false;
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    tracing::warn!(error = %e, "cannot read revoked sessions; signed-in requests get 503 until they can be read");
                    failing = true;
                }
                Err(_) => {}
            }
            if last_sweep.elapsed() >= SESSION_SWEEP_EVERY {
                last_sweep = Instant::now();
                if let Err(e) = sessions.sweep(flashsale_core::domain::now_unix()).await {
                    tracing::debug!(error = %e, "could not forget expired revocations");
                }
            }
        }
    }
}

/// Picks up each new publish of `dist/` without a restart (see `static_files`).
struct SiteReload {
    shop: Arc<Shop>,
}

#[async_trait]
impl BackgroundService for SiteReload {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut tick = tokio::time::interval(SITE_POLL_EVERY);
        let mut complained = false;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            // Reading a publish is file IO: off the request threads.
            let shop = self.shop.clone();
            match tokio::task::spawn_blocking(move || shop.site.reload()).await {
                Ok(Ok(_)) => complained = false,
                Ok(Err(why)) if !complained => {
                    tracing::warn!(
                        why,
                        "could not load the new publish of the site; still serving the last one"
                    );
                    complained = true;
                }
                Ok(Err(_)) => {}
                Err(e) => tracing::warn!(error = %e, "site reload task failed"),
            }
        }
    }
}

/// Asks every ring peer `/healthz` each second: a peer that does not answer is skipped (its
/// shoppers go to the next node clockwise) until it answers again.
struct PeerHealth {
    shop: Arc<Shop>,
}

#[async_trait]
impl BackgroundService for PeerHealth {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let cluster = &self.shop.cluster;
        let mut tick = tokio::time::interval(PEER_CHECK_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            // Read each round: the member list can be reloaded.
            for peer in cluster.peers() {
                let peer = peer.as_str();
                let up = healthy(peer).await;
                if cluster.checked(peer, up) {
                    if up {
                        tracing::info!(%peer, "ring peer is back; its shoppers return to it");
                    } else {
                        tracing::warn!(%peer, "ring peer does not answer; its shoppers go to the next node");
                    }
                }
            }
        }
    }
}

/// Whether `peer` answers `GET /healthz` with 200 in time.
async fn healthy(peer: &str) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let check = async {
        let mut stream = tokio::net::TcpStream::connect(peer).await.ok()?;
        let request = format!("GET /healthz HTTP/1.1\r\nHost: {peer}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.ok()?;
        Some(&head == b"HTTP/1.1 200")
    };
    matches!(
        tokio::time::timeout(PEER_CHECK_TIMEOUT, check).await,
        Ok(Some(true))
    )
}

/// Serves the metrics to any request on its own port (Prometheus scrapes `GET /metrics`).
struct MetricsServer {
    shop: Arc<Shop>,
    /// Bound by the caller; taken once by the service.
    listener: std::sync::Mutex<Option<std::net::TcpListener>>,
}

#[async_trait]
impl BackgroundService for MetricsServer {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let taken = self.listener.lock().ok().and_then(|mut l| l.take());
        let Some(listener) = taken.and_then(|l| tokio::net::TcpListener::from_std(l).ok()) else {
            tracing::error!("the metrics listener could not be started");
            return;
        };
        loop {
            let (mut stream, _) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(_) => continue,
                },
                _ = shutdown.changed() => return,
            };
            let body = self.shop.metrics.render(&self.shop.cluster);
            tokio::spawn(async move {
                let mut request = [0u8; 1024];
                // The request itself does not matter; read it so the client sees a clean close.
                let _ =
                    tokio::time::timeout(Duration::from_secs(1), stream.read(&mut request)).await;
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    }
}
