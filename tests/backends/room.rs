//! The waiting room on Redis behind a ring of three gateways (this process and two
//! `flashsale gateway` processes): the draw gives everyone one position on every node,
//! admission follows the rate (paused, changed live), and a Redis cut or a killed gateway
//! loses no one's place and lets no one in.

use crate::cluster::Ring3;
use crate::util::REDIS;
use flashsale_core::domain::{now_unix, now_unix_ms, NewProduct};
use flashsale_core::stock::{RedisStock, StockStore};
use flashsale_core::waiting_room::{solve, LineStart, RedisRoom, WaitingRoom};
use flashsale_core::Ring;
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

const BITS: u8 = 6;

fn queued(stock: i64, rate: u32, sale_start: Option<i64>) -> NewProduct {
    NewProduct {
        queue: true,
        admit_per_second: rate,
        sale_start,
        ..crate::util::product(stock)
    }
}

async fn ring(products: &[NewProduct]) -> Ring3 {
    Ring3::start_products(products, |c| {
        c.queue_pow_difficulty = BITS;
        c.cooldown_secs = 0;
    })
    .await
}

/// Talks to the ring as shoppers' pages do, through whichever node is asked.
#[derive(Clone)]
struct Line {
    nodes: Vec<String>,
    secret: String,
    pid: i64,
    http: reqwest::Client,
}

impl Line {
    fn new(ring: &Ring3, pid: i64) -> Self {
        Line {
            nodes: ring.nodes.clone(),
            secret: ring.shop.config.cookie_secret.clone().expect("secret"),
            pid,
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()
                .expect("client"),
        }
    }

    fn url(&self, node: usize, what: &str) -> String {
        format!("http://{}/queue/{}/{what}", self.nodes[node], self.pid)
    }

    fn cookie(&self, uid: i64) -> String {
        let token =
            flashsale_core::SignCodec::new(1, self.secret.as_bytes()).issue(uid, now_unix() + 3600);
        format!("uid={uid}; sign={token}")
    }

    async fn join(&self, node: usize, uid: i64) -> (u16, Value) {
        let cookie = self.cookie(uid);
        let r = self
            .http
            .get(self.url(node, "challenge"))
            .header("Cookie", &cookie)
            .send()
            .await
            .expect("challenge");
        let body: Value = r.json().await.expect("JSON");
        let challenge = body["challenge"].as_str().expect("a challenge").to_string();
        let nonce = solve(&challenge, BITS);
        let r = self
            .http
            .post(self.url(node, "join"))
            .header("Cookie", &cookie)
            .form(&[("challenge", challenge.as_str()), ("nonce", nonce.as_str())])
            .send()
            .await
            .expect("join");
        (r.status().as_u16(), r.json().await.expect("JSON"))
    }

    async fn status(&self, node: usize, uid: i64) -> (u16, Value) {
        let r = self
            .http
            .get(self.url(node, "status"))
            .header("Cookie", self.cookie(uid))
            .send()
            .await
            .expect("status");
        (r.status().as_u16(), r.json().await.expect("JSON"))
    }

    async fn position(&self, node: usize, uid: i64) -> Option<u64> {
        let (status, body) = self.status(node, uid).await;
        assert_eq!(status, 200, "{body}");
        body["position"].as_u64()
    }

    /// How many of `uids` are admitted now, asking each at its owner (in parallel).
    async fn admitted(&self, uids: &[i64]) -> usize {
        let asks: Vec<_> = uids
            .iter()
            .map(|uid| {
                let (line, uid) = (self.clone(), *uid);
                tokio::spawn(async move { line.status((uid % 3) as usize, uid).await })
            })
            .collect();
        let mut admitted = 0;
        for ask in asks {
            let (status, body) = ask.await.expect("task");
            if status == 200 && body["admitted"] == true {
                admitted += 1;
            }
        }
        admitted
    }

    async fn buy(&self, node: usize, uid: i64) -> (u16, Value) {
        let r = self
            .http
            .post(format!(
                "http://{}/getOne?productID={}",
                self.nodes[node], self.pid
            ))
            .header("Cookie", self.cookie(uid))
            .send()
            .await
            .expect("buy");
        (r.status().as_u16(), r.json().await.expect("JSON"))
    }
}

/// The line's store, reached directly (not through the test's proxy): the admin's door.
async fn store(ring: &Ring3) -> RedisRoom {
    RedisRoom::connect(&format!("redis://{REDIS}/"), &ring.shop.config.stock_prefix)
        .await
        .expect("redis")
}

fn spearman(positions: &[u64]) -> f64 {
    let n = positions.len() as f64;
    let d2: f64 = positions
        .iter()
        .enumerate()
        .map(|(i, p)| ((i as f64 + 1.0) - *p as f64).powi(2))
        .sum();
    1.0 - 6.0 * d2 / (n * (n * n - 1.0))
}

async fn wait_until(what: &str, within: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_draw_is_the_same_on_every_node_and_admission_follows_the_rate_live() {
    let start = now_unix() + 12;
    let ring = ring(&[queued(1_000, 20, Some(start))]).await;
    let pid = ring.shop.product_id;
    let line = Line::new(&ring, pid);

    // 200 shoppers join the prequeue in a known order, through all three nodes.
    for uid in 1..=200 {
        let (status, body) = line.join((uid % 3) as usize, uid).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["state"], "prequeue", "joined before saleStart: {body}");
        assert_eq!(body["position"], Value::Null);
    }
    assert!(now_unix() < start, "the prequeue took too long to fill");

    // After saleStart: positions exactly 1..200, the same through every node.
    wait_until("the draw", Duration::from_secs(20), async || {
        line.position(0, 1).await.is_some()
    })
    .await;
    let drawn_at = start * 1000;
    let mut positions = Vec::new();
    for uid in 1..=200 {
        let seen: Vec<Option<u64>> = vec![
            line.position(0, uid).await,
            line.position(1, uid).await,
            line.position(2, uid).await,
        ];
        assert!(
            seen.iter().all(|p| *p == seen[0]),
            "shopper {uid}: {seen:?}"
        );
        positions.push(seen[0].expect("a position"));
    }
    let mut sorted = positions.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=200).collect::<Vec<u64>>());
    let rho = spearman(&positions);
    assert!(rho.abs() < 0.2, "positions follow arrival order: rho {rho}");

    // Late joiners follow, in arrival order.
    for (i, uid) in (1001..=1003).enumerate() {
        let (_, body) = line.join(i % 3, uid).await;
        assert_eq!(body["position"], 201 + i as u64, "{body}");
    }

    // Admission at 20/s: admitted(t) within 20 x t +- 20 (one second's worth), sampled to 5 s.
    let uids: Vec<i64> = (1..=200).collect();
    while now_unix_ms() < drawn_at + 5_000 {
        let before = (now_unix_ms() - drawn_at) as f64 / 1000.0;
        let admitted = line.admitted(&uids).await as f64;
        let after = (now_unix_ms() - drawn_at) as f64 / 1000.0;
        assert!(
            admitted >= 20.0 * before - 20.0 && admitted <= 20.0 * after + 20.0,
            "{admitted} admitted between {before} s and {after} s at 20/s"
        );
        tokio::time::sleep(Duration::from_millis(700)).await;
    }

    // Paused (as the admin's save does): nobody more is admitted, on any node.
    let room = store(&ring).await;
    let paused = LineStart {
        start_ms: drawn_at,
        rate: 0,
    };
    room.set_rate(pid, paused, now_unix_ms())
        .await
        .expect("pause");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let held = line.admitted(&uids).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        line.admitted(&uids).await,
        held,
        "a paused line admits no one"
    );
    assert!(held < 200, "the test needs someone left waiting ({held})");

    // Resumed at 200/s: on every node, the next ones in line are admitted within a second.
    let by_position: HashMap<u64, i64> = positions
        .iter()
        .enumerate()
        .map(|(i, p)| (*p, i as i64 + 1))
        .collect();
    let members = ring.nodes.clone();
    let owners = Ring::new(&members, 20);
    let next: Vec<i64> = (held as u64 + 1..=200)
        .filter_map(|p| by_position.get(&p).copied())
        .take(60)
        .collect();
    let resumed = Instant::now();
    room.set_rate(
        pid,
        LineStart {
            start_ms: drawn_at,
            rate: 200,
        },
        now_unix_ms(),
    )
    .await
    .expect("resume");
    for (node, member) in members.iter().enumerate() {
        let uid = *next
            .iter()
            .find(|uid| owners.owner(&uid.to_string()) == Some(member.as_str()))
            .expect("a waiting shopper owned by each node");
        wait_until(
            &format!("node {node} to see the new rate"),
            Duration::from_millis(1500),
            async || line.status(node, uid).await.1["admitted"] == true,
        )
        .await;
    }
    assert!(resumed.elapsed() < Duration::from_millis(1500));
    ring.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_cut_or_a_killed_gateway_loses_no_place_and_lets_no_one_in() {
    let mut ring = ring(&[queued(100, 1_000, None)]).await;
    let pid = ring.shop.product_id;
    let line = Line::new(&ring, pid);
    let mut places = HashMap::new();
    for uid in 1..=30 {
        let (status, body) = line.join((uid % 3) as usize, uid).await;
        assert_eq!(status, 200, "{body}");
        places.insert(uid, body["position"].as_u64().expect("a position at once"));
    }
    wait_until("admission", Duration::from_secs(5), async || {
        line.status(0, 1).await.1["admitted"] == true
    })
    .await;

    ring.shop.proxies.redis.cut();
    // Each gateway notices on its own clock (its line and its revocations go stale 3 s after
    // their last read): wait until every node answers unavailable, then check they stay so.
    wait_until(
        "every gateway to answer unavailable",
        Duration::from_secs(8),
        async || {
            for node in 0..3 {
                for uid in [1, 2, 3] {
                    if line.status(node, uid).await.0 != 503 {
                        return false;
                    }
                }
            }
            true
        },
    )
    .await;
    for node in 0..3 {
        for uid in [1, 2, 3] {
            let (status, body) = line.status(node, uid).await;
            assert_eq!(
                (status, &body["result"]),
                (503, &Value::from("unavailable"))
            );
            let (status, body) = line.buy(node, uid).await;
            assert_eq!(
                (status, &body["result"]),
                (503, &Value::from("unavailable")),
                "Buy"
            );
        }
        let (status, body) = line.join(node, 100 + node as i64).await;
        assert_eq!(
            (status, &body["result"]),
            (503, &Value::from("unavailable")),
            "join"
        );
    }
    let stock = RedisStock::connect(&format!("redis://{REDIS}/"), &ring.shop.config.stock_prefix)
        .await
        .expect("redis");
    assert_eq!(
        stock.holders(pid).await.expect("holders"),
        Some(0),
        "nothing reserved"
    );
    assert_eq!(stock.remaining(pid).await.expect("remaining"), Some(100));

    ring.shop.proxies.redis.restore();
    // Every owner reconnects on its own (the first call after a cut may still fail).
    wait_until(
        "the line to come back on every owner",
        Duration::from_secs(10),
        async || {
            for uid in 1..=30 {
                if line.status((uid % 3) as usize, uid).await.0 != 200 {
                    return false;
                }
            }
            true
        },
    )
    .await;
    for (uid, position) in &places {
        assert_eq!(
            line.position((*uid % 3) as usize, *uid).await,
            Some(*position)
        );
    }

    // A gateway killed and restarted: its shoppers keep their places (the store has them).
    ring.kill(1);
    ring.restart(1).await;
    for (uid, position) in &places {
        for node in 0..3 {
            assert_eq!(
                line.position(node, *uid).await,
                Some(*position),
                "shopper {uid}"
            );
        }
    }
    assert_eq!(
        line.buy(1, 1).await.0,
        202,
        "an admitted shopper buys after it all"
    );
    ring.stop().await;
}
