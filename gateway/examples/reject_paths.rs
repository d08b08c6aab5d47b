//! Instructions per refused Buy, for `valgrind --tool=callgrind` (which counts instructions, so
//! a busy machine does not move the figure). One gateway on embedded backends answers `n`
//! Buys of one path over one keep-alive connection; count only the gateway's handling with
//!
//! ```sh
//! cargo build --release --example reject_paths -p flashsale-gateway
//! valgrind --tool=callgrind --toggle-collect='*Gateway*request_filter*' \
//!     target/release/examples/reject_paths sold_out 2000
//! ```
//!
//! and divide the total by `n`. Paths: unauthorized (a forged token), too_fast (one shopper
//! again and again), sold_out (distinct shoppers), not_on_sale and not_admitted (one shopper
//! again and again: both are refused before the cooldown), and `ceiling`: the bench's HTTP
//! ceiling (bench/src/reference.rs, a pingora responder answering a Buy-sized 202 at once)
//! driven by the same client, so a path's count divided by the ceiling's stands in for the
//! benchmark's ratio.
//!
//! The count above is the hook alone. The whole of pingora's work per request (reading and
//! parsing the request, the hook, writing the answer; not tokio's scheduling nor the kernel)
//! is what the ceiling's count is made of, so compare with
//!
//! ```sh
//! valgrind --tool=callgrind --toggle-collect='*process_new_http*' \
//!     target/release/examples/reject_paths ceiling 2000
//! ```

use flashsale_core::domain::{now_unix, NewProduct};
use flashsale_core::queue::MemoryQueue;
use flashsale_core::stock::{MemoryStock, StockStore};
use flashsale_core::{Db, SignCodec};
use flashsale_gateway::cluster::Cluster;
use flashsale_gateway::{Shop, ShopParts};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).map_or("sold_out", String::as_str).to_string();
    let n: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(1_000);
    if path == "ceiling" {
        ceiling(n);
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = b"callgrind secret, not for production";
    let codec = SignCodec::new(1, secret);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let addr = listener.local_addr().expect("bound address").to_string();
    let (products, gateway) = runtime.block_on(async {
        let db = Db::connect(&format!("sqlite://{}/p.db", dir.path().display()))
            .await
            .expect("db");
        db.migrate().await.expect("migrate");
        let stock = Arc::new(MemoryStock::new());
        let plain = NewProduct::on_sale_now("p", 1_000_000, 1);
        let mut products = Vec::new();
        for product in [
            plain.clone(),
            NewProduct {
                stock: 0,
                ..plain.clone()
            },
            NewProduct {
                sale_start: Some(now_unix() + 86_400),
                ..plain.clone()
            },
            NewProduct {
                queue: true,
                ..plain.clone()
            },
        ] {
            let id = db.insert_product(&product).await.expect("product");
            stock.load(id, product.stock, &[]).await.expect("stock");
            products.push(id);
        }
        let shop = Shop::new(ShopParts {
            db,
            stock,
            queue: Arc::new(MemoryQueue::new()),
            codec: codec.clone(),
            session_ttl: Duration::from_secs(3600),
            cooldown: Duration::from_secs(600),
            cooldown_capacity: 1_000_000,
            dist: dir.path().join("dist"),
            cluster: Cluster::alone(&addr),
            sessions: Arc::new(flashsale_core::sessions::MemorySessions::new()),
            limits: flashsale_gateway::throttle::Limits::default(),
            trusted_proxies: Vec::new(),
            cookie_secure: false,
            room: flashsale_gateway::room::RoomParts::in_memory(b"callgrind"),
        })
        .await
        .expect("shop");
        (
            products,
            flashsale_gateway::spawn(shop, listener, 1, None).expect("gateway"),
        )
    });
    let expires = now_unix() + 3600;
    let cookie = |uid: i64| format!("uid={uid}; sign={}", codec.issue(uid, expires));
    let forged = SignCodec::new(1, b"someone else's secret");
    let (product, expect, cookies): (i64, u16, Vec<String>) = match path.as_str() {
        "unauthorized" => (
            products[0],
            401,
            vec![format!("uid=1; sign={}", forged.issue(1, expires))],
        ),
        "too_fast" => (products[0], 429, vec![cookie(1)]),
        "sold_out" => (products[1], 410, (1..=n as i64).map(cookie).collect()),
        "not_on_sale" => (products[2], 403, vec![cookie(1)]),
        "not_admitted" => (products[3], 403, vec![cookie(1)]),
        other => panic!("unknown path {other}"),
    };
    let mut stream = connect(&addr);
    if expect == 429 {
        // The first click starts the cooldown.
        assert_eq!(buy(&mut stream, product, &cookies[0]), 202);
    }
    for i in 0..n {
        let status = buy(&mut stream, product, &cookies[i % cookies.len()]);
        assert_eq!(status, expect, "request {i}");
    }
    println!("{path}: {n} requests answered {expect}");
    gateway.shutdown();
}

/// The bench's reference (flashsale_testkit::ceiling) on one thread, as the gateway runs here:
/// every request answered at once with a 202 the size of a Buy's.
fn ceiling(n: usize) {
    let addr = format!("127.0.0.1:{}", free_port());
    let server = flashsale_testkit::ceiling::spawn(&addr, 1);
    let mut stream = connect(&addr);
    let cookie = format!(
        "uid=1; sign={}",
        SignCodec::new(1, b"callgrind secret, not for production").issue(1, now_unix() + 3600)
    );
    for i in 0..n {
        assert_eq!(buy(&mut stream, 1, &cookie), 202, "request {i}");
    }
    println!("ceiling: {n} requests answered 202");
    server.stop();
}

/// A port for the reference, which binds by address itself.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn connect(addr: &str) -> TcpStream {
    for _ in 0..600 {
        if let Ok(stream) = TcpStream::connect(addr) {
            return stream;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the gateway did not listen");
}

/// One Buy on the keep-alive connection; its status.
fn buy(stream: &mut TcpStream, product: i64, cookie: &str) -> u16 {
    write!(
        stream,
        "POST /getOne?productID={product} HTTP/1.1\r\nHost: shop\r\nCookie: {cookie}\r\nContent-Length: 0\r\n\r\n"
    )
    .expect("send");
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).expect("header");
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().expect("length");
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("body");
    status
}
