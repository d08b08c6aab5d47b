//! A TCP proxy that a test owns: everything between the code and a service goes through it,
//! and the test breaks it in the two ways networks break:
//! - [`TcpProxy::cut`]: every open connection is reset and new ones are refused (a crashed or
//!   stopped service);
//! - [`TcpProxy::silence`]: connections stay open but no byte moves (a hung service, a
//!   dropped route): only timeouts notice;
//! - [`TcpProxy::silence_replies`]: requests reach the service, its answers are held back (a
//!   reply lost on the way: the service acted, the client cannot know).
//!
//! This is how fault tests break a service without stopping the machine's shared instance.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct State {
    /// Bumped on every cut: connections of an older generation end.
    generation: u64,
    refusing: bool,
    silent: bool,
    /// Only the service's side is held back.
    replies_silent: bool,
}

pub struct TcpProxy {
    pub addr: SocketAddr,
    state: Arc<watch::Sender<State>>,
    accepted: Arc<AtomicU64>,
    /// Byte pumps still running: two per open connection.
    pumps: Arc<AtomicU64>,
    accept: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: &str) -> TcpProxy {
        let upstream: SocketAddr = upstream.parse().expect("upstream is host:port");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (state, _) = watch::channel(State {
            generation: 0,
            refusing: false,
            silent: false,
            replies_silent: false,
        });
        let state = Arc::new(state);
        let accepted = Arc::new(AtomicU64::new(0));
        let pumps = Arc::new(AtomicU64::new(0));
        let accept = {
            let state = state.clone();
            let accepted = accepted.clone();
            let pumps = pumps.clone();
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    let now = *state.borrow();
                    if now.refusing {
                        drop(client);
                        continue;
                    }
                    accepted.fetch_add(1, Ordering::Relaxed);
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        continue;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    pumps.fetch_add(2, Ordering::SeqCst);
                    tokio::spawn(counted(
                        pumps.clone(),
                        pump(
                            client_read,
                            server_write,
                            state.subscribe(),
                            now.generation,
                            false,
                        ),
                    ));
                    tokio::spawn(counted(
                        pumps.clone(),
                        pump(
                            server_read,
                            client_write,
                            state.subscribe(),
                            now.generation,
                            true,
                        ),
                    ));
                }
            })
        };
        TcpProxy {
            addr,
            state,
            accepted,
            pumps,
            accept,
        }
    }

    /// Drops every open connection and refuses new ones until [`TcpProxy::restore`].
    pub fn cut(&self) {
        self.state.send_modify(|s| {
            s.generation += 1;
            s.refusing = true;
        });
    }

    /// Keeps connections open but moves no byte until [`TcpProxy::restore`].
    pub fn silence(&self) {
        self.state.send_modify(|s| s.silent = true);
    }

    /// Forwards what clients send but holds back what the service answers, until
    /// [`TcpProxy::restore`] or a cut.
    pub fn silence_replies(&self) {
        self.state.send_modify(|s| s.replies_silent = true);
    }

    /// Back to forwarding: new connections are accepted, held bytes flow on.
    pub fn restore(&self) {
        self.state.send_modify(|s| {
            s.refusing = false;
            s.silent = false;
            s.replies_silent = false;
        });
    }

    /// Connections forwarded so far (to see whether a client reuses its connections).
    pub fn connections(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Connections still open through the proxy (a connection counts until both of its
    /// directions have ended).
    pub fn open_connections(&self) -> u64 {
        self.pumps.load(Ordering::SeqCst).div_ceil(2)
    }

    /// Waits until no connection is open through the proxy (after a cut, every connection
    /// has really been dropped), failing the test after `within`.
    pub async fn wait_until_closed(&self, within: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while self.open_connections() > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} connections still open through the proxy after {within:?}",
                self.open_connections()
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// `host:port` of the proxy, to put in a URL instead of the service's.
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// Runs `pump`, then counts it as ended.
async fn counted(pumps: Arc<AtomicU64>, pump: impl std::future::Future<Output = ()>) {
    pump.await;
    pumps.fetch_sub(1, Ordering::SeqCst);
}

/// Copies bytes one way (`replies`: from the service to the client) until either side closes
/// or the connection's generation is cut; while the proxy is silent, bytes read are held back.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut state: watch::Receiver<State>,
    generation: u64,
    replies: bool,
) {
    let mut buf = vec![0u8; 16 * 1024];
    let alive = |s: &State| s.generation == generation;
    let held = move |s: &State| s.silent || (replies && s.replies_silent);
    loop {
        // A cut must win over traffic arriving at the same moment.
        let n = tokio::select! {
            biased;
            _ = state.wait_for(|s| !alive(s)) => return,
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
        };
        match state.wait_for(|s| !alive(s) || !held(s)).await {
            Ok(s) if alive(&s) => {}
            _ => return,
        }
        // The write can block on a full peer; a cut must end it all the same.
        tokio::select! {
            biased;
            _ = state.wait_for(|s| !alive(s)) => return,
            written = to.write_all(&buf[..n]) => if written.is_err() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A server that counts the bytes it gets and echoes them.
    async fn echo() -> (SocketAddr, Arc<AtomicU64>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let received = Arc::new(AtomicU64::new(0));
        let counter = received.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 || socket.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                        counter.fetch_add(n as u64, Ordering::SeqCst);
                    }
                });
            }
        });
        (addr, received)
    }

    async fn eventually(what: &str, condition: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !condition() {
            assert!(tokio::time::Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn silenced_replies_reach_the_service_and_come_back_on_restore() {
        let (server, received) = echo().await;
        let proxy = TcpProxy::start(&server.to_string()).await;
        let mut client = TcpStream::connect(proxy.addr).await.expect("connect");
        eventually("the connection is open", || proxy.open_connections() == 1).await;

        proxy.silence_replies();
        client.write_all(b"ping").await.expect("write");
        eventually("the request reached the service", || {
            received.load(Ordering::SeqCst) == 4
        })
        .await;
        let mut buf = [0u8; 4];
        let early = tokio::time::timeout(Duration::from_millis(100), client.read(&mut buf)).await;
        assert!(early.is_err(), "a reply came through the silence");

        proxy.restore();
        client.read_exact(&mut buf).await.expect("the held reply");
        assert_eq!(&buf, b"ping");

        proxy.cut();
        proxy.wait_until_closed(Duration::from_secs(5)).await;
        assert_eq!(proxy.open_connections(), 0);
    }
}
