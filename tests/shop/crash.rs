//! `flashsale up` on embedded defaults killed mid-storm (an OOM kill, a power cut, `kill -9`):
//! every order answered 202 is in the database exactly once after a restart, the stock adds
//! up, nobody who holds a unit can buy it again, and `flashsale audit` agrees.
//!
//! Regression: the in-memory queue lost the orders it had not drained yet (10 of 6,784
//! accepted orders, in the run).

use crate::util::{cookie_for, flashsale_command, product, UpProcess};
use flashsale_core::Db;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Concurrent buyers in the storm.
const BUYERS: usize = 24;
/// Kill/restart cycles in one run (the moment of the kill is timing-dependent).
const CYCLES: usize = 3;
/// 202s a cycle waits for before the kill, so the kill lands in a storm.
const ACCEPTED_BEFORE_KILL: usize = 300;

/// An order answered 202: (shopper, product, order id).
type Accepted = (i64, i64, String);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_mid_storm_loses_no_accepted_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = flashsale_core::config::random_secret();
    let env = vec![("FLASHSALE_COOKIE_SECRET", secret.clone())];
    let db_url = format!("sqlite://{}/data/flashsale.db", dir.path().display());
    // Three products with plenty of stock and one that sells out, put in before the first
    // start (so no demo catalogue is seeded).
    let stocks = [5_000, 5_000, 5_000, 60];
    let mut initial = HashMap::new();
    {
        let db = Db::connect(&db_url).await.expect("connect");
        db.migrate().await.expect("migrate");
        for (i, stock) in stocks.iter().enumerate() {
            let id = db
                .insert_product(&product(&format!("Item {i}"), *stock))
                .await
                .expect("product");
            initial.insert(id, *stock);
        }
        db.close().await;
    }
    let products: Vec<i64> = {
        let mut p: Vec<i64> = initial.keys().copied().collect();
        p.sort();
        p
    };
    let next_uid = Arc::new(AtomicI64::new(1));
    let mut all_accepted: Vec<Accepted> = Vec::new();

    let mut left_in_outbox = 0;
    let mut shop = UpProcess::start(dir.path(), &env);
    for cycle in 1..=CYCLES {
        let accepted = storm_then_kill(&mut shop, &secret, &products, &next_uid).await;
        // What the killed worker had not recorded yet: the restart must finish it.
        let waiting = {
            let db = Db::connect(&db_url).await.expect("connect");
            let counts = db.outbox_counts().await.expect("outbox");
            db.close().await;
            counts.waiting
        };
        left_in_outbox += waiting;
        eprintln!(
            "cycle {cycle}: {} orders answered 202, then SIGKILL with {waiting} orders not yet recorded",
            accepted.len()
        );
        all_accepted.extend(accepted);

        shop = UpProcess::start(dir.path(), &env);
        let db = Db::connect(&db_url).await.expect("connect");
        let lost = wait_until_recorded(&db, &products, &all_accepted).await;
        assert!(
            lost.is_empty(),
            "cycle {cycle}: {} of {} orders answered 202 are not in the database after the \
             restart (e.g. {:?})",
            lost.len(),
            all_accepted.len(),
            lost.iter().take(3).collect::<Vec<_>>()
        );
        // Stock exact: what the database has left plus what it sold is what there was.
        for &pid in &products {
            let orders = db.orders_of_product(pid).await.expect("orders");
            let left = db
                .get_product(pid)
                .await
                .expect("get")
                .expect("exists")
                .stock;
            assert_eq!(
                left + orders.len() as i64,
                initial[&pid],
                "cycle {cycle}: product {pid}: {left} left and {} sold",
                orders.len()
            );
            // The restarted stock store agrees (the gateway may cache it for a second).
            wait_for_remaining(&shop.url, pid, left).await;
        }
        // Shoppers who hold a unit still hold it: the restart did not forget them.
        let client = reqwest::Client::new();
        for (uid, pid, _) in all_accepted.iter().rev().take(5) {
            let r = client
                .post(format!("{}/getOne?productID={pid}", shop.url))
                .header("Cookie", cookie_for(&secret, *uid))
                .send()
                .await
                .expect("buy again");
            assert_eq!(
                r.status().as_u16(),
                409,
                "cycle {cycle}: shopper {uid} bought product {pid} twice"
            );
        }
        let (ok, report) = flashsale_command(dir.path(), &["audit"], &env);
        assert!(ok && report.contains("verdict: consistent"), "{report}");
        db.close().await;
    }
    shop.stop();
    assert!(
        left_in_outbox > 0,
        "every kill came after the worker had caught up: make the storm harder"
    );
    eprintln!(
        "{CYCLES} SIGKILLs mid-storm: all {} orders answered 202 recorded ({left_in_outbox} of \
         them recorded after a restart)",
        all_accepted.len()
    );
}

/// `BUYERS` shoppers' clients buy without pause, each Buy a new shopper, over all products;
/// once `ACCEPTED_BEFORE_KILL` were accepted the shop is SIGKILLed mid-storm. Returns the
/// orders answered 202.
async fn storm_then_kill(
    shop: &mut UpProcess,
    secret: &str,
    products: &[i64],
    next_uid: &Arc<AtomicI64>,
) -> Vec<Accepted> {
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(BUYERS)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let mut buyers = Vec::new();
    for _ in 0..BUYERS {
        let (client, accepted, count, next_uid) = (
            client.clone(),
            accepted.clone(),
            count.clone(),
            next_uid.clone(),
        );
        let (url, secret, products) = (shop.url.clone(), secret.to_string(), products.to_vec());
        buyers.push(tokio::spawn(async move {
            loop {
                let uid = next_uid.fetch_add(1, Ordering::Relaxed);
                let pid = products[uid as usize % products.len()];
                let sent = client
                    .post(format!("{url}/getOne?productID={pid}"))
                    .header("Cookie", cookie_for(&secret, uid))
                    .send()
                    .await;
                // The shop is gone: this buyer's storm is over.
                let Ok(r) = sent else { return };
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
        }));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while count.load(Ordering::Relaxed) < ACCEPTED_BEFORE_KILL {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the storm got too few 202s"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    shop.kill();
    for buyer in buyers {
        buyer.await.expect("buyer");
    }
    let accepted = accepted.lock().expect("lock").clone();
    accepted
}

/// Waits (up to 20 s) until every accepted order is recorded; returns those that are not.
async fn wait_until_recorded(db: &Db, products: &[i64], accepted: &[Accepted]) -> Vec<Accepted> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut recorded = HashSet::new();
        for &pid in products {
            for o in db.orders_of_product(pid).await.expect("orders") {
                recorded.insert((o.user_id, o.product_id, o.order_id));
            }
        }
        let lost: Vec<Accepted> = accepted
            .iter()
            .filter(|a| !recorded.contains(*a))
            .cloned()
            .collect();
        if lost.is_empty() || tokio::time::Instant::now() > deadline {
            return lost;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (up to 5 s) until the gateway says product `pid` has `expected` units left.
async fn wait_for_remaining(url: &str, pid: i64, expected: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let r: serde_json::Value = reqwest::get(format!("{url}/stock/{pid}"))
            .await
            .expect("stock")
            .json()
            .await
            .expect("json");
        if r["remaining"] == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "product {pid}: the gateway says {} left, the database {expected}",
            r["remaining"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// When the outbox cannot commit (a full disk, say), the Buy answers 503 and its unit goes
/// back, exactly as when RabbitMQ cannot take an order; once the disk is fine, Buys go through.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_outbox_commit_answers_503_and_gives_the_unit_back() {
    let shop = crate::util::TestShop::start(&[product("Phone", 5)], 10).await;
    let pid = shop.product_ids[0];
    // A trigger stands in for the disk refusing the write.
    let sqlite = sqlx::SqlitePool::connect(&shop.config.database_url)
        .await
        .expect("connect");
    sqlx::query(
        "CREATE TRIGGER disk_full BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'disk full'); END",
    )
    .execute(&sqlite)
    .await
    .expect("trigger");
    let client = reqwest::Client::new();
    let buy = |uid: i64| {
        client
            .post(format!("{}/getOne?productID={pid}", shop.url))
            .header("Cookie", shop.cookie_header(uid))
            .send()
    };
    let r = buy(1).await.expect("buy");
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["result"], "unavailable");
    let stock = &shop.stack.stock;
    assert_eq!(stock.remaining(pid).await.expect("remaining"), Some(5));
    assert_eq!(stock.holders(pid).await.expect("holders"), Some(0));

    sqlx::query("DROP TRIGGER disk_full")
        .execute(&sqlite)
        .await
        .expect("drop trigger");
    sqlite.close().await;
    assert_eq!(buy(2).await.expect("buy").status(), 202);
    let orders = shop.wait_for_confirmed(pid, 1).await;
    assert_eq!(
        orders.iter().map(|o| o.user_id).collect::<Vec<_>>(),
        vec![2],
        "only the 202 is an order"
    );
    assert_eq!(stock.remaining(pid).await.expect("remaining"), Some(4));
}
