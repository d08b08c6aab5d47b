//! The same product page served by the gateway (from memory) and by nginx (Debian's, from
//! the same `dist/`, with `gzip_static` and an open-file cache), with keep-alive, at the same
//! concurrency: requests/s and p99, plain and gzip.

use crate::table::{Row, Section};
use crate::wrk::{median, rates, Load, Wrk};
use flashsale_core::domain::NewProduct;
use flashsale_core::queue::MemoryQueue;
use flashsale_core::stock::MemoryStock;
use flashsale_core::{Db, SignCodec};
use flashsale_gateway::cluster::Cluster;
use flashsale_gateway::{Shop, ShopParts};
use flashsale_sitegen::{render_site, SiteOptions};
use flashsale_testkit::free_port;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const SCRIPT: &str = include_str!("static.lua");
/// Runs per server and encoding; the median one is reported.
const ROUNDS: usize = 3;

pub async fn run(seconds: u64, connections: u32) -> anyhow::Result<Section> {
    anyhow::ensure!(
        std::process::Command::new("nginx")
            .arg("-v")
            .output()
            .is_ok(),
        "nginx is not installed (Debian: apt-get install nginx)"
    );
    let dir = tempfile::tempdir()?;
    let wrk = Wrk::new(dir.path(), seconds, connections)?;
    let dist = dir.path().join("dist");
    let db = Db::connect(&format!("sqlite://{}/bench.db", dir.path().display())).await?;
    db.migrate().await?;
    let id = db
        .insert_product(&NewProduct {
            name: "Phone".into(),
            stock: 100,
            price_cents: 49_900,
            image: "/static/img/phone.svg".into(),
            description: "A phone for the sale.\n\nOne per shopper.".into(),
            sale_start: None,
            sale_end: None,
            queue: false,
            admit_per_second: 100,
        })
        .await?;
    let products = db.list_products().await?;
    render_site(&products, &SiteOptions::new(&dist, 10, "Flashsale"))?;

    let (gateway_listener, gateway_addr) = flashsale_testkit::loopback_listener();
    let shop = Shop::new(ShopParts {
        db: db.clone(),
        stock: Arc::new(MemoryStock::new()),
        queue: Arc::new(MemoryQueue::new()),
        codec: SignCodec::new(1, flashsale_core::config::random_secret().as_bytes()),
        session_ttl: Duration::from_secs(3600),
        cooldown: Duration::from_secs(10),
        cooldown_capacity: 1000,
        dist: dist.clone(),
        cluster: Cluster::alone(&gateway_addr),
        sessions: Arc::new(flashsale_core::sessions::MemorySessions::new()),
        limits: flashsale_gateway::throttle::Limits::default(),
        trusted_proxies: Vec::new(),
        cookie_secure: false,
        room: flashsale_gateway::room::RoomParts::in_memory(b"bench"),
    })
    .await?;
    let gateway = flashsale_gateway::spawn(shop, gateway_listener, 0, None)?;
    // nginx binds what its config names: a port free now.
    let nginx_addr = format!("127.0.0.1:{}", free_port());
    let mut nginx = start_nginx(dir.path(), &dist, &nginx_addr)?;
    // pingora itself, answering at once: what the gateway's HTTP stack allows at best.
    // It binds its own address (pingora's add_tcp): a port free now.
    let pingora_addr = format!("127.0.0.1:{}", free_port());
    let _pingora = crate::reference::spawn(&pingora_addr);
    crate::http::wait_until_healthy(&pingora_addr, 202).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let script = dir.path().join("static.lua");
    std::fs::write(&script, SCRIPT)?;
    let page = format!("/product/{id}.html");
    let mut section = Section::new(format!(
        "2. Static product page: gateway (from memory) versus nginx (sendfile, gzip_static), \
         keep-alive, {connections} connections; {ROUNDS} alternating runs of {seconds} s each, \
         the median run shown"
    ));
    for (label, encoding) in [("plain", ""), ("gzip", "gzip")] {
        // Alternating runs, so a burst of the machine's other load hits both servers alike.
        let mut nginx_runs = Vec::with_capacity(ROUNDS);
        let mut gateway_runs = Vec::with_capacity(ROUNDS);
        let mut pingora_runs = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            nginx_runs.push(wrk.get(&script, &format!("http://{nginx_addr}"), &page, encoding)?);
            gateway_runs.push(wrk.get(
                &script,
                &format!("http://{gateway_addr}"),
                &page,
                encoding,
            )?);
            if encoding.is_empty() {
                pingora_runs.push(wrk.get(
                    &script,
                    &format!("http://{pingora_addr}"),
                    &page,
                    encoding,
                )?);
            }
        }
        let spread = |runs: &[Load]| format!("runs: {} req/s", rates(runs));
        let (nginx_notes, gateway_notes) = (spread(&nginx_runs), spread(&gateway_runs));
        let nginx_load = median(nginx_runs);
        let gateway_load = median(gateway_runs);
        section.push(
            Row::load(format!("nginx, {label} (reference)"), &nginx_load, 200).note(nginx_notes),
        );
        section.push(
            Row::load(format!("gateway, {label}"), &gateway_load, 200)
                .versus(gateway_load.rate(), nginx_load.rate(), "nginx", Some(1.0))
                .note(format!(
                    "p99 {:.2}x nginx's",
                    gateway_load.p99_ms / nginx_load.p99_ms.max(0.001)
                ))
                .note(gateway_notes),
        );
        if !pingora_runs.is_empty() {
            let notes = spread(&pingora_runs);
            let load = median(pingora_runs);
            section.push(
                Row::load(
                    "minimal pingora responder, a 64-byte answer (pingora's own ceiling)",
                    &load,
                    202,
                )
                .versus(load.rate(), nginx_load.rate(), "nginx", None)
                .note(format!(
                    "the gateway's plain run is {:.2}x this",
                    gateway_load.rate() / load.rate().max(1.0)
                ))
                .note(notes),
            );
        }
    }

    stop_nginx(dir.path(), &mut nginx);
    tokio::task::spawn_blocking(move || gateway.shutdown()).await?;
    db.close().await;
    Ok(section)
}

/// Stops nginx through its master, which takes its workers along.
fn stop_nginx(dir: &Path, nginx: &mut std::process::Child) {
    let mut stop = std::process::Command::new("nginx");
    stop.arg("-e")
        .arg(dir.join("nginx-error.log"))
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .args(["-s", "stop"]);
    flashsale_testkit::stop_gracefully(&mut stop, nginx);
}

/// nginx tuned as a shop would for static files, as many workers as cores (the gateway runs
/// one thread per core too).
fn start_nginx(dir: &Path, dist: &Path, addr: &str) -> anyhow::Result<std::process::Child> {
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            r#"daemon off;
master_process on;
worker_processes auto;
user root;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  include /etc/nginx/mime.types;
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  open_file_cache max=10000 inactive=60s;
  open_file_cache_valid 60s;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  server {{
    listen {addr};
    root {dist};
    gzip_static on;
    gzip_vary on;
    add_header Cache-Control "public, max-age=10";
    location / {{ try_files $uri $uri.html $uri/index.html =404; }}
  }}
}}
"#,
            dir = dir.display(),
            dist = dist.display(),
        ),
    )?;
    let child = std::process::Command::new("nginx")
        .arg("-e")
        .arg(dir.join("nginx-error.log"))
        .arg("-c")
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    Ok(child)
}
