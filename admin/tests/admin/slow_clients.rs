//! The admin on a real socket under slow clients: connections still sending their request
//! hold no place in the concurrency limit, so the pages keep answering.

use crate::util::{PASSWORD, TOKEN, USER};
use flashsale_admin::{AdminParts, AdminState, Credentials};
use flashsale_core::stock::MemoryStock;
use flashsale_core::Db;
use flashsale_sitegen::SiteOptions;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An admin on a real socket; its address and a way to stop it.
async fn serve() -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::connect(&format!("sqlite://{}/shop.db", dir.path().display()))
        .await
        .expect("connect");
    db.migrate().await.expect("migrate");
    let state = AdminState::new(AdminParts {
        db,
        stock: Arc::new(MemoryStock::new()),
        room: Arc::new(flashsale_core::waiting_room::MemoryRoom::new()),
        default_admit_per_second: 100,
        time_zone: chrono_tz::UTC,
        currency: "USD".into(),
        site: SiteOptions::new(dir.path().join("dist"), 10, "Test Shop"),
        credentials: Credentials::new(USER, PASSWORD, TOKEN).expect("credentials"),
        after_publish: None,
    })
    .expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(flashsale_admin::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    (addr, stop, server, dir)
}

/// A client that stops halfway through its headers, or its body, is cut off once the read
/// timeout has passed (the body one with 408), instead of holding its connection for ever.
#[tokio::test]
async fn half_sent_headers_and_bodies_time_out() {
    let (addr, stop, server, _dir) = serve().await;
    let mut half_headers = tokio::net::TcpStream::connect(addr).await.expect("connect");
    half_headers
        .write_all(b"GET /login HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("send");
    let mut half_body = tokio::net::TcpStream::connect(addr).await.expect("connect");
    half_body
        .write_all(
            b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nuser=a",
        )
        .await
        .expect("send");
    let limit = flashsale_admin::routes::HEADER_READ_TIMEOUT
        .max(flashsale_admin::routes::BODY_READ_TIMEOUT)
        + Duration::from_secs(5);
    let (headers_closed, body_answer) = tokio::join!(
        tokio::time::timeout(limit, async {
            let mut rest = Vec::new();
            let _ = half_headers.read_to_end(&mut rest).await;
        }),
        tokio::time::timeout(limit, async {
            let mut answer = Vec::new();
            let _ = half_body.read_to_end(&mut answer).await;
            String::from_utf8_lossy(&answer).to_string()
        })
    );
    assert!(
        headers_closed.is_ok(),
        "half-sent headers kept their connection"
    );
    let body_answer = body_answer.expect("a half-sent body kept its connection");
    assert!(body_answer.starts_with("HTTP/1.1 408"), "{body_answer}");
    let _ = stop.send(());
    server.await.expect("server task").expect("server");
}

/// Regression (issue 14, finding 4): 64 slow POST bodies froze the whole admin, because the
/// concurrency limit counted requests whose bodies were still arriving. Now 200 clients
/// sending a body byte by byte leave the login page answering in under a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finding_4_two_hundred_slow_clients_do_not_stop_the_login_page() {
    let (addr, stop, server, _dir) = serve().await;

    // 200 clients announce a 1000-byte login form and send it one byte every 100 ms.
    let sending = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut slow = Vec::new();
    for _ in 0..200 {
        let sending = sending.clone();
        slow.push(tokio::spawn(async move {
            let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
                return;
            };
            let head = format!(
                "POST /login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
            );
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            while sending.load(std::sync::atomic::Ordering::Relaxed) {
                if stream.write_all(b"a").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    for _ in 0..5 {
        let started = Instant::now();
        let answered = tokio::time::timeout(Duration::from_secs(1), async {
            let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let request =
                format!("GET /login HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            stream.write_all(request.as_bytes()).await.expect("send");
            let mut response = Vec::new();
            stream.read_to_end(&mut response).await.expect("read");
            String::from_utf8_lossy(&response).to_string()
        })
        .await;
        let response = answered.unwrap_or_else(|_| {
            panic!(
                "the login page did not answer within 1 s under 200 slow clients ({:?})",
                started.elapsed()
            )
        });
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sending.store(false, std::sync::atomic::Ordering::Relaxed);
    for client in slow {
        let _ = client.await;
    }
    let _ = stop.send(());
    server.await.expect("server task").expect("server");
}
