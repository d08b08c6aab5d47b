//! `flashsale up` on the real backends (MariaDB, Redis, RabbitMQ) SIGKILLed mid-storm, again
//! and again: every order answered 202 is recorded exactly once after the restarts, and the
//! stock adds up. The 202 waited for the broker's confirm, so the kill cannot take it back.

use crate::util::{RealShop, REDIS};
use flashsale::stack::Parts;
use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BUYERS: usize = 24;
const CYCLES: usize = 3;
const ACCEPTED_BEFORE_KILL: usize = 200;

/// (shopper, product, order id) of a 202.
type Accepted = (i64, i64, String);

/// The setup and the checks only: the shop itself runs as `flashsale up` processes.
const NOTHING: Parts = Parts {
    gateway: false,
    worker: false,
};

/// A `flashsale up` process, killed when dropped (also when the test fails).
struct Up(Child);

impl Up {
    fn kill(&mut self) {
        self.0.kill().expect("SIGKILL flashsale up");
        self.0.wait().expect("reap");
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `flashsale up` on the shop's services, on free ports; returns once it says it is up.
async fn up(shop: &RealShop, dir: &std::path::Path) -> (Up, String) {
    let mut child = Up(Command::new(env!("CARGO_BIN_EXE_flashsale"))
        .arg("up")
        .current_dir(dir)
        .envs(shop.env())
        .env("FLASHSALE_GATEWAY_LISTEN", "127.0.0.1:0")
        .env("FLASHSALE_ADMIN_LISTEN", "127.0.0.1:0")
        .env("FLASHSALE_GATEWAY_THREADS", "2")
        .env("RUST_LOG", "warn")
        .env_remove("FLASHSALE_CONFIG")
        .stdout(Stdio::piped())
        .spawn()
        .expect("flashsale up starts"));
    let gateway = flashsale_testkit::read_until(&mut child.0, "Ctrl-C")
        .unwrap_or_else(|printed| panic!("flashsale up did not come up:\n{printed}"))
        .addr("gateway");
    (child, format!("http://{gateway}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn up_sigkilled_mid_storm_on_the_real_backends_loses_no_accepted_order() {
    let _turn = crate::util::storm_turn().await;
    let stocks = [5_000, 5_000, 60];
    let shop = RealShop::start_with(&stocks, NOTHING, |_| {}).await;
    let initial: HashMap<i64, i64> = shop.product_ids.iter().copied().zip(stocks).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let next_uid = Arc::new(AtomicI64::new(1));
    let mut accepted: Vec<Accepted> = Vec::new();
    for cycle in 1..=CYCLES {
        let (mut child, url) = up(&shop, dir.path()).await;
        let got = storm_then_kill(&shop, &url, &mut child, &next_uid).await;
        eprintln!(
            "cycle {cycle}: {} orders answered 202, then SIGKILL",
            got.len()
        );
        accepted.extend(got);
    }

    // A last start drains what the killed workers left on the queue.
    let (mut child, _url) = up(&shop, dir.path()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let (recorded, lost) = loop {
        let mut recorded = Vec::new();
        for &pid in &shop.product_ids {
            recorded.extend(shop.db.orders_of_product(pid).await.expect("orders"));
        }
        let ids: HashSet<(i64, i64, String)> = recorded
            .iter()
            .map(|o| (o.user_id, o.product_id, o.order_id.clone()))
            .collect();
        let lost: Vec<&Accepted> = accepted.iter().filter(|a| !ids.contains(*a)).collect();
        if lost.is_empty() || tokio::time::Instant::now() > deadline {
            break (recorded, lost.len());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        lost,
        0,
        "of {} orders answered 202, {lost} are not in the database",
        accepted.len()
    );
    let shoppers: HashSet<(i64, i64)> =
        recorded.iter().map(|o| (o.user_id, o.product_id)).collect();
    assert_eq!(
        shoppers.len(),
        recorded.len(),
        "a shopper has two orders of a product"
    );

    let stock = flashsale_core::stock::RedisStock::connect(
        &format!("redis://{REDIS}/"),
        &shop.config.stock_prefix,
    )
    .await
    .expect("redis");
    use flashsale_core::stock::StockStore;
    for &pid in &shop.product_ids {
        let orders = recorded.iter().filter(|o| o.product_id == pid).count() as i64;
        let left = shop
            .db
            .get_product(pid)
            .await
            .expect("get")
            .expect("exists")
            .stock;
        assert_eq!(left + orders, initial[&pid], "product {pid}: stock adds up");
        // A kill between a reservation and its publish leaves that unit held in Redis with no
        // order (never sold twice, sold to no one): at most one per Buy in flight per kill.
        let held = stock.holders(pid).await.expect("holders").unwrap_or(0) as i64;
        assert!(
            held >= orders && held - orders <= (BUYERS * CYCLES) as i64,
            "product {pid}: {held} held in Redis, {orders} orders"
        );
    }
    child.kill();
    eprintln!(
        "{CYCLES} SIGKILLs of flashsale up mid-storm: all {} orders answered 202 recorded",
        accepted.len()
    );
    shop.cleanup().await;
}

async fn storm_then_kill(
    shop: &RealShop,
    url: &str,
    child: &mut Up,
    next_uid: &Arc<AtomicI64>,
) -> Vec<Accepted> {
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(BUYERS)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let products = shop.product_ids.clone();
    let buyers: Vec<_> = (0..BUYERS)
        .map(|_| {
            let (client, accepted, count, next_uid) = (
                client.clone(),
                accepted.clone(),
                count.clone(),
                next_uid.clone(),
            );
            let (url, products) = (url.to_string(), products.clone());
            let cookies: Arc<dyn Fn(i64) -> String + Send + Sync> = {
                let secret = shop.config.cookie_secret.clone().expect("secret");
                Arc::new(move |uid| {
                    let token = flashsale_core::SignCodec::new(1, secret.as_bytes())
                        .issue(uid, flashsale_core::domain::now_unix() + 3600);
                    format!("uid={uid}; sign={token}")
                })
            };
            tokio::spawn(async move {
                loop {
                    let uid = next_uid.fetch_add(1, Ordering::Relaxed);
                    let pid = products[uid as usize % products.len()];
                    let Ok(r) = client
                        .post(format!("{url}/getOne?productID={pid}"))
                        .header("Cookie", cookies(uid))
                        .send()
                        .await
                    else {
                        return;
                    };
                    let status = r.status().as_u16();
                    let Ok(body) = r.json::<serde_json::Value>().await else {
                        return;
                    };
                    match status {
                        202 => {
                            let id = body["orderId"].as_str().expect("orderId").to_string();
                            accepted.lock().expect("lock").push((uid, pid, id));
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                        410 | 503 => {}
                        other => panic!("unexpected answer {other}: {body}"),
                    }
                }
            })
        })
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while count.load(Ordering::Relaxed) < ACCEPTED_BEFORE_KILL {
        assert!(tokio::time::Instant::now() < deadline, "too few 202s");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    child.kill();
    for b in buyers {
        b.await.expect("buyer");
    }
    let accepted = accepted.lock().expect("lock").clone();
    accepted
}
