//! `/getOne` through Redis + RabbitMQ, each path beside a minimal pingora responder that
//! answers the same request with a body of the same size: the HTTP ceiling of this machine.

use crate::sale::{Sale, AMQP};
use crate::table::{ratio, Table};
use async_trait::async_trait;
use flashsale_core::domain::now_unix;
use flashsale_core::queue::AmqpQueue;
use flashsale_core::stock::StockStore;
use flashsale_core::SignCodec;
use flashsale_gateway::cluster::Cluster;
use flashsale_gateway::{Shop, ShopParts};
use flashsale_testkit::free_port;
use pingora::http::ResponseHeader;
use pingora::prelude::{HttpPeer, ProxyHttp, Session};
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, Server, ShutdownSignal, ShutdownSignalWatch};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

pub(crate) const SCRIPT: &str = include_str!("shoppers.lua");
/// The size of a `{"result":"queued","orderId":"…"}` answer.
const QUEUED_BODY: &str = r#"{"orderId":"0123456789abcdef0123456789abcdef","result":"queued"}"#;

/// What one wrk run measured.
pub(crate) struct Load {
    pub(crate) requests: u64,
    pub(crate) seconds: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) wrong: u64,
}

impl Load {
    pub(crate) fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    /// A table row: name, requests/s, p50, p99, unexpected answers, ratio to `reference`.
    pub(crate) fn row(&self, name: &str, reference: &Load) -> Vec<String> {
        vec![
            name.into(),
            format!("{:.0}", self.rate()),
            format!("{:.2}", self.p50_ms),
            format!("{:.2}", self.p99_ms),
            self.wrong.to_string(),
            ratio(self.rate(), reference.rate()),
        ]
    }
}

pub async fn run(seconds: u64, connections: u32) -> anyhow::Result<()> {
    anyhow::ensure!(
        std::process::Command::new("wrk")
            .arg("--version")
            .output()
            .is_ok(),
        "wrk is not installed (Debian: apt-get install wrk)"
    );

    let dir = tempfile::tempdir()?;
    let sale = Sale::open(10_000_000).await?;
    let (db, product_id) = (sale.db.clone(), sale.product_id);
    let stock: Arc<dyn StockStore> = sale.stock.clone();
    let secret = flashsale_core::config::random_secret();
    let codec = SignCodec::new(1, secret.as_bytes());
    let gateway_addr = format!("127.0.0.1:{}", free_port());
    let shop = Shop::new(ShopParts {
        db: db.clone(),
        stock: stock.clone(),
        queue: Arc::new(AmqpQueue::connect(AMQP, &sale.queue).await?),
        codec: codec.clone(),
        session_ttl: Duration::from_secs(3600),
        cooldown: Duration::from_secs(10),
        cooldown_capacity: 2_000_000,
        dist: dir.path().to_path_buf(),
        cluster: Cluster::alone(&gateway_addr),
    })
    .await?;

    // Cookie files: many distinct shoppers; one shopper; none.
    let shoppers = 400_000;
    let many = dir.path().join("many.txt");
    let one = dir.path().join("one.txt");
    let none = dir.path().join("none.txt");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&many)?);
    for uid in 1..=shoppers {
        writeln!(
            file,
            "uid={uid}; sign={}",
            codec.issue(uid, now_unix() + 3600)
        )?;
    }
    file.flush()?;
    // One line per wrk thread, so each thread has shopper 0.
    let one_cookie = format!("uid=0; sign={}\n", codec.issue(0, now_unix() + 3600));
    std::fs::write(&one, one_cookie.repeat(2))?;
    std::fs::write(&none, "")?;
    let script = dir.path().join("shoppers.lua");
    std::fs::write(&script, SCRIPT)?;

    let reference_addr = format!("127.0.0.1:{}", free_port());
    let gateway = flashsale_gateway::spawn(shop, &gateway_addr, 0, None)?;
    let reference = spawn_reference(&reference_addr)?;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let path = format!("/getOne?productID={product_id}");
    let wrk = Wrk {
        script: &script,
        path: &path,
        seconds,
        connections,
    };
    let wrk = |addr: &str, cookies: &std::path::Path, expect: u16, cycle: bool| {
        wrk.load(addr, cookies, expect, cycle)
    };
    // The ceiling is measured with the same request shapes as the paths it is compared to.
    let ceiling = wrk(&reference_addr, &many, 202, true)?;
    let bare_ceiling = wrk(&reference_addr, &none, 202, true)?;
    // Shopper 0's first click passes; every later one is too_fast.
    let too_fast = wrk(&gateway_addr, &one, 429, true)?;
    let unauthorized = wrk(&gateway_addr, &none, 401, true)?;
    let success = wrk(&gateway_addr, &many, 202, false)?;

    let mut table = Table::new(&[
        "path",
        "requests/s",
        "p50 ms",
        "p99 ms",
        "unexpected answers",
        "vs ceiling",
    ]);
    for (name, l, reference) in [
        (
            "minimal pingora responder, no cookie (ceiling)",
            &bare_ceiling,
            &bare_ceiling,
        ),
        (
            "/getOne unauthorized (no cookie)",
            &unauthorized,
            &bare_ceiling,
        ),
        (
            "minimal pingora responder, with cookie (ceiling)",
            &ceiling,
            &ceiling,
        ),
        ("/getOne too_fast (one shopper)", &too_fast, &ceiling),
        (
            "/getOne success: Redis + RabbitMQ confirm",
            &success,
            &ceiling,
        ),
    ] {
        table.row(l.row(name, reference));
    }
    table.print(&format!(
        "/getOne on this machine, {connections} connections, {seconds} s each, wrk on loopback"
    ));

    tokio::task::spawn_blocking(move || {
        gateway.shutdown();
        let _ = reference.send(true);
    })
    .await?;
    sale.close().await?;
    Ok(())
}

/// One wrk run's fixed settings.
pub(crate) struct Wrk<'a> {
    pub(crate) script: &'a std::path::Path,
    pub(crate) path: &'a str,
    pub(crate) seconds: u64,
    pub(crate) connections: u32,
}

impl Wrk<'_> {
    /// Loads `addr` with the shoppers of `cookies`; counts answers other than `expect`.
    pub(crate) fn load(
        &self,
        addr: &str,
        cookies: &std::path::Path,
        expect: u16,
        cycle: bool,
    ) -> anyhow::Result<Load> {
        let (script, path, seconds, connections) =
            (self.script, self.path, self.seconds, self.connections);
        let threads = 2;
        // The expected status reaches the script as a global set before it runs.
        let lua = std::fs::read_to_string(script)?;
        let with_expect = script.with_extension(format!("{expect}.lua"));
        std::fs::write(&with_expect, format!("expect = {expect}\n{lua}"))?;
        let out = std::process::Command::new("wrk")
            .args([
                "-t",
                &threads.to_string(),
                "-c",
                &connections.to_string(),
                "-d",
                &format!("{seconds}s"),
            ])
            .args(["--timeout", "5s", "-s"])
            .arg(&with_expect)
            .arg(format!("http://{addr}"))
            .arg("--")
            .arg(cookies)
            .arg(path)
            .arg(threads.to_string())
            .arg(if cycle { "cycle" } else { "stop" })
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.starts_with("RESULT "))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "wrk printed no result: {text} {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })?;
        let f: Vec<f64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        anyhow::ensure!(f.len() == 5, "cannot read wrk's result line: {line}");
        Ok(Load {
            requests: f[0] as u64,
            seconds: f[1],
            p50_ms: f[2],
            p99_ms: f[3],
            wrong: f[4] as u64,
        })
    }
}

/// The reference: pingora answering every request at once with a 202 of the same size.
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

fn spawn_reference(addr: &str) -> anyhow::Result<tokio::sync::watch::Sender<bool>> {
    let conf = ServerConf {
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut service = pingora::proxy::http_proxy_service(&server.configuration, Responder);
    service.add_tcp(addr);
    server.add_service(service);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    std::thread::spawn(move || {
        server.run(RunArgs {
            shutdown_signal: Box::new(Stop(stopped)),
        })
    });
    Ok(stop)
}
