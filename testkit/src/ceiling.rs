//! The HTTP ceiling of this machine: a minimal pingora server that answers every request at
//! once with a 202 the size of a Buy's answer, and does nothing else. The benchmarks and the
//! instruction counts of `gateway/examples/reject_paths.rs` compare the gateway with it.

use async_trait::async_trait;
use pingora::http::ResponseHeader;
use pingora::prelude::{HttpPeer, ProxyHttp, Session};
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, Server, ShutdownSignal, ShutdownSignalWatch};

/// The size of a `{"result":"queued","orderId":"…"}` answer.
const QUEUED_BODY: &str = r#"{"orderId":"0123456789abcdef0123456789abcdef","result":"queued"}"#;

struct Responder;

#[async_trait]
impl ProxyHttp for Responder {
    type CTX = ();
    fn new_ctx(&self) {}

    async fn request_filter(&self, session: &mut Session, _ctx: &mut ()) -> pingora::Result<bool> {
        let mut header = ResponseHeader::build(202, Some(3))?;
        header.insert_header("Content-Type", "application/json")?;
        header.insert_header("Content-Length", QUEUED_BODY.len().to_string())?;
        session
            .write_response_header(Box::new(header), false)
            .await?;
        session
            .write_response_body(Some(QUEUED_BODY.into()), true)
            .await?;
        Ok(true)
    }

    async fn upstream_peer(
        &self,
        _s: &mut Session,
        _ctx: &mut (),
    ) -> pingora::Result<Box<HttpPeer>> {
        Err(pingora::Error::new(pingora::ErrorType::InternalError))
    }
}

struct Stop(tokio::sync::watch::Receiver<bool>);

#[async_trait]
impl ShutdownSignalWatch for Stop {
    async fn recv(&self) -> ShutdownSignal {
        let mut stop = self.0.clone();
        let _ = stop.wait_for(|s| *s).await;
        ShutdownSignal::FastShutdown
    }
}

/// A running responder; it stops when dropped.
pub struct Ceiling {
    stop: tokio::sync::watch::Sender<bool>,
    running: Option<std::thread::JoinHandle<()>>,
}

impl Ceiling {
    /// Stops the responder and waits until its threads are done.
    pub fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(running) = self.running.take() {
            let _ = running.join();
        }
    }
}

impl Drop for Ceiling {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Starts the responder on `addr` (pingora binds the address itself) with `threads` threads.
pub fn spawn(addr: &str, threads: usize) -> Ceiling {
    let conf = ServerConf {
        threads,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut service = pingora::proxy::http_proxy_service(&server.configuration, Responder);
    service.add_tcp(addr);
    server.add_service(service);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = std::thread::spawn(move || {
        server.run(RunArgs {
            shutdown_signal: Box::new(Stop(stopped)),
        })
    });
    Ceiling {
        stop,
        running: Some(running),
    }
}
