//! The Redis stock store against the machine's real Redis: the same behaviour as the memory
//! store, no overselling under a storm, Cluster-safe keys, and prompt answers when Redis is cut
//! off or goes silent.

use flashsale_core::stock::{
    Claim, Holder, RedisStock, Release, Reservation, StockError, StockStore,
};
use flashsale_testkit::services::REDIS_ADDR;
use flashsale_testkit::{require, unique_name, TcpProxy};
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;

/// A store under a prefix no other test uses, and a plain connection to look at Redis directly.
struct Fixture {
    store: Arc<RedisStock>,
    prefix: String,
    raw: MultiplexedConnection,
}

impl Fixture {
    async fn new() -> Fixture {
        Self::via(REDIS_ADDR).await
    }

    /// The store reaches Redis through `host_port` (a proxy); the raw connection goes direct.
    async fn via(host_port: &str) -> Fixture {
        require("Redis", REDIS_ADDR);
        let prefix = format!("{}:", unique_name("fs_stock"));
        let store = RedisStock::connect(&format!("redis://{host_port}"), &prefix)
            .await
            .unwrap_or_else(|e| panic!("connect to Redis via {host_port}: {e}"));
        Fixture {
            store: Arc::new(store),
            prefix,
            raw: raw_connection().await,
        }
    }

    fn remaining_key(&self, product: i64) -> String {
        format!("{}{{p:{product}}}:remaining", self.prefix)
    }

    fn holders_key(&self, product: i64) -> String {
        format!("{}{{p:{product}}}:holders", self.prefix)
    }

    async fn holders(&mut self, product: i64) -> HashSet<i64> {
        let key = self.holders_key(product);
        self.raw.hkeys(key).await.expect("HKEYS")
    }

    async fn raw_remaining(&mut self, product: i64) -> Option<i64> {
        let key = self.remaining_key(product);
        self.raw.get(key).await.expect("GET")
    }

    /// Every key under this test's prefix.
    async fn keys(&mut self) -> Vec<String> {
        let pattern = format!("{}*", self.prefix);
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut self.raw)
                .await
                .expect("SCAN");
            keys.extend(batch);
            if next == 0 {
                return keys;
            }
            cursor = next;
        }
    }

    /// Deletes this test's keys; call it at the end of every test.
    async fn clean_up(mut self) {
        let keys = self.keys().await;
        if !keys.is_empty() {
            let _: i64 = self.raw.del(&keys).await.expect("DEL");
        }
        assert!(
            self.keys().await.is_empty(),
            "keys left under {}",
            self.prefix
        );
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // A failing test never reaches `clean_up`: remove its keys anyway, best effort, so the
        // shared Redis does not fill up with them.
        if std::thread::panicking() {
            flashsale_testkit::delete_redis_keys(&self.prefix);
        }
    }
}

async fn raw_connection() -> MultiplexedConnection {
    redis::Client::open(format!("redis://{REDIS_ADDR}"))
        .expect("redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("direct connection to Redis")
}

/// The order id a test shopper reserves with.
fn oid(user: i64) -> String {
    format!("order-of-{user}")
}

/// Shoppers who already have orders in the database.
fn hs(users: &[i64]) -> Vec<Holder> {
    users
        .iter()
        .map(|&user_id| Holder {
            user_id,
            order_id: format!("db-{user_id}"),
        })
        .collect()
}

async fn reserve(store: &RedisStock, product: i64, user: i64) -> Reservation {
    store
        .reserve(product, user, &oid(user))
        .await
        .expect("reserve")
}

// --- The same behaviour table as the memory store ---

#[tokio::test]
async fn unknown_product_is_not_loaded_not_unlimited() {
    let mut f = Fixture::new().await;
    assert_eq!(reserve(&f.store, 1, 1).await, Reservation::NotLoaded);
    assert_eq!(f.store.remaining(1).await.expect("remaining"), None);
    assert_eq!(
        f.store.release(1, 1, &oid(1)).await.expect("release"),
        Release::Withdrawn
    );
    // Neither answer may have created the product behind our back: the only key is the
    // tombstone of the withdrawn order.
    assert_eq!(f.raw_remaining(1).await, None);
    assert_eq!(f.store.remaining(1).await.expect("remaining"), None);
    let keys = f.keys().await;
    assert!(keys.iter().all(|k| k.ends_with(":withdrawn")), "{keys:?}");
    f.clean_up().await;
}

#[tokio::test]
async fn one_unit_per_shopper_and_never_below_zero() {
    let f = Fixture::new().await;
    let s = &f.store;
    s.load(1, 2, &[]).await.expect("load");
    assert_eq!(reserve(s, 1, 10).await, Reservation::Reserved);
    assert_eq!(reserve(s, 1, 10).await, Reservation::AlreadyHeld);
    assert_eq!(reserve(s, 1, 11).await, Reservation::Reserved);
    assert_eq!(reserve(s, 1, 12).await, Reservation::SoldOut);
    assert_eq!(s.remaining(1).await.expect("remaining"), Some(0));
    assert_eq!(
        s.release(1, 11, &oid(11)).await.expect("release"),
        Release::Withdrawn
    );
    assert_eq!(
        s.release(1, 11, &oid(11)).await.expect("release twice"),
        Release::Withdrawn
    );
    assert_eq!(s.remaining(1).await.expect("remaining"), Some(1));
    assert_eq!(reserve(s, 1, 12).await, Reservation::Reserved);
    assert_eq!(reserve(s, 1, 13).await, Reservation::SoldOut);
    assert_eq!(s.remaining(1).await.expect("remaining"), Some(0));
    f.clean_up().await;
}

#[tokio::test]
async fn holders_loaded_from_the_database_cannot_buy_again() {
    let mut f = Fixture::new().await;
    f.store.load(1, 5, &hs(&[7, 8])).await.expect("load");
    assert_eq!(reserve(&f.store, 1, 7).await, Reservation::AlreadyHeld);
    assert_eq!(reserve(&f.store, 1, 9).await, Reservation::Reserved);
    assert_eq!(f.store.remaining(1).await.expect("remaining"), Some(4));

    // A second load replaces everything: 9's reservation and 7's order are forgotten.
    f.store.load(1, 1, &hs(&[8])).await.expect("reload");
    assert_eq!(f.holders(1).await, HashSet::from([8]));
    assert_eq!(reserve(&f.store, 1, 8).await, Reservation::AlreadyHeld);
    assert_eq!(reserve(&f.store, 1, 7).await, Reservation::Reserved);
    assert_eq!(reserve(&f.store, 1, 9).await, Reservation::SoldOut);
    f.clean_up().await;
}

#[tokio::test]
async fn negative_stock_loads_as_zero() {
    let mut f = Fixture::new().await;
    f.store.load(1, -5, &[]).await.expect("load");
    assert_eq!(f.store.remaining(1).await.expect("remaining"), Some(0));
    assert_eq!(reserve(&f.store, 1, 1).await, Reservation::SoldOut);
    // A release of someone who holds nothing gives nothing back.
    assert_eq!(
        f.store.release(1, 1, &oid(1)).await.expect("release"),
        Release::Withdrawn
    );
    assert_eq!(f.raw_remaining(1).await, Some(0));
    f.clean_up().await;
}

#[tokio::test]
async fn a_large_holder_list_loads_whole() {
    let mut f = Fixture::new().await;
    // Far more than one Lua `unpack` can take at once.
    let holders: Vec<i64> = (1..=25_000).collect();
    f.store.load(1, 3, &hs(&holders)).await.expect("load");
    assert_eq!(f.holders(1).await.len(), 25_000);
    for user in [1, 999, 1000, 1001, 24_999, 25_000] {
        assert_eq!(reserve(&f.store, 1, user).await, Reservation::AlreadyHeld);
    }
    assert_eq!(reserve(&f.store, 1, 25_001).await, Reservation::Reserved);
    assert_eq!(f.store.remaining(1).await.expect("remaining"), Some(2));
    f.clean_up().await;
}

#[tokio::test]
async fn holders_are_counted_only_for_a_loaded_product() {
    let f = Fixture::new().await;
    let s = &f.store;
    assert_eq!(s.holders(1).await.expect("holders"), None);
    s.load(1, 5, &hs(&[7, 8])).await.expect("load");
    assert_eq!(s.holders(1).await.expect("holders"), Some(2));
    assert_eq!(reserve(s, 1, 9).await, Reservation::Reserved);
    assert_eq!(s.holders(1).await.expect("holders"), Some(3));
    assert_eq!(
        s.release(1, 9, &oid(9)).await.expect("release"),
        Release::Withdrawn
    );
    assert_eq!(s.holders(1).await.expect("holders"), Some(2));
    s.load(2, 5, &[]).await.expect("load with nobody holding");
    assert_eq!(s.holders(2).await.expect("holders"), Some(0));
    f.clean_up().await;
}

#[tokio::test]
async fn load_if_missing_never_resets_a_known_product() {
    let mut f = Fixture::new().await;
    let s = &f.store;
    assert!(s.load_if_missing(1, 5, &hs(&[3])).await.expect("load"));
    assert_eq!(reserve(s, 1, 10).await, Reservation::Reserved);
    assert!(!s.load_if_missing(1, 5, &[]).await.expect("second load"));
    assert_eq!(s.remaining(1).await.expect("remaining"), Some(4));
    assert_eq!(f.holders(1).await, HashSet::from([3, 10]));
    f.clean_up().await;
}

// --- Concurrency ---

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn nodes_healing_a_lost_product_at_once_load_it_once() {
    let f = Fixture::new().await;
    let tasks: Vec<_> = (0..50i64)
        .map(|user| {
            let store = f.store.clone();
            tokio::spawn(async move {
                let loaded = store.load_if_missing(1, 100, &[]).await.expect("load");
                let answer = store.reserve(1, user, &oid(user)).await.expect("reserve");
                (loaded, answer)
            })
        })
        .collect();
    let mut loads = 0;
    for task in tasks {
        let (loaded, answer) = task.await.expect("task");
        loads += usize::from(loaded);
        assert_eq!(answer, Reservation::Reserved);
    }
    assert_eq!(loads, 1, "exactly one node loads the product");
    // No later load wiped an earlier reservation.
    assert_eq!(f.store.remaining(1).await.expect("remaining"), Some(50));
    assert_eq!(f.store.holders(1).await.expect("holders"), Some(50));
    f.clean_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn a_storm_of_reservations_never_oversells() {
    let mut f = Fixture::new().await;
    f.store.load(1, 100, &[]).await.expect("load");
    // Four stores with their own connections stand for four gateway nodes.
    let mut nodes = vec![f.store.clone()];
    for _ in 0..3 {
        let node = RedisStock::connect(&format!("redis://{REDIS_ADDR}"), &f.prefix)
            .await
            .expect("connect");
        nodes.push(Arc::new(node));
    }
    // 1,000 shoppers, each pressing Buy twice (back to back, on two different nodes), all at
    // once.
    let tasks: Vec<_> = (0..2000i64)
        .map(|i| {
            let node = nodes[i as usize % nodes.len()].clone();
            let user = i / 2;
            tokio::spawn(async move { (user, node.reserve(1, user, &oid(user)).await) })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (user, answer) = task.await.expect("task");
        match answer.expect("reserve") {
            Reservation::Reserved => winners.push(user),
            Reservation::AlreadyHeld | Reservation::SoldOut => {}
            Reservation::NotLoaded => panic!("the product was loaded"),
        }
    }
    let distinct: HashSet<i64> = winners.iter().copied().collect();
    assert_eq!(winners.len(), 100, "exactly the stock is reserved");
    assert_eq!(distinct.len(), 100, "no shopper got two units");
    assert_eq!(f.store.remaining(1).await.expect("remaining"), Some(0));
    assert_eq!(f.holders(1).await, distinct);
    f.clean_up().await;
}

// --- Key layout ---

/// What Redis Cluster hashes: the text between the first `{` and the next `}`.
fn hash_tag(key: &str) -> &str {
    let open = key.find('{').expect("key has a hash tag");
    let close = key[open..].find('}').expect("hash tag is closed") + open;
    &key[open + 1..close]
}

#[tokio::test]
async fn the_keys_of_a_product_share_one_hash_tag() {
    let mut f = Fixture::new().await;
    for product in [7, 8] {
        f.store.load(product, 2, &hs(&[1])).await.expect("load");
        assert_eq!(reserve(&f.store, product, 2).await, Reservation::Reserved);
    }
    let mut keys = f.keys().await;
    keys.sort();
    assert_eq!(
        keys,
        [
            f.holders_key(7),
            f.remaining_key(7),
            f.holders_key(8),
            f.remaining_key(8)
        ]
    );
    assert_eq!(hash_tag(&keys[0]), "p:7");
    assert_eq!(hash_tag(&keys[1]), "p:7");
    assert_eq!(hash_tag(&keys[2]), "p:8");
    assert_eq!(hash_tag(&keys[3]), "p:8");
    f.clean_up().await;
}

#[tokio::test]
async fn a_prefix_with_braces_is_refused() {
    require("Redis", REDIS_ADDR);
    match RedisStock::connect(&format!("redis://{REDIS_ADDR}"), "shop{1}:").await {
        Err(StockError::Unavailable(message)) => assert!(message.contains("braces"), "{message}"),
        Ok(_) => panic!("a prefix with braces would break the per-product hash tag"),
    }
}

// --- Faults ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_connection_answers_unavailable_promptly_and_recovers_by_itself() {
    require("Redis", REDIS_ADDR);
    let proxy = TcpProxy::start(REDIS_ADDR).await;
    let mut f = Fixture::via(&proxy.host_port()).await;
    f.store.load(1, 10, &[]).await.expect("load");
    assert_eq!(reserve(&f.store, 1, 1).await, Reservation::Reserved);

    proxy.cut();
    // Until the proxy has dropped its connections, no request of ours can slip through.
    proxy.wait_until_closed(Duration::from_secs(5)).await;
    for user in [2, 3, 4] {
        let started = Instant::now();
        let answer = f.store.reserve(1, user, &oid(user)).await;
        assert!(
            matches!(answer, Err(StockError::Unavailable(_))),
            "shopper {user} got {answer:?} while Redis is cut off"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "reserve took {:?} while Redis is cut off",
            started.elapsed()
        );
    }
    assert!(matches!(
        f.store.remaining(1).await,
        Err(StockError::Unavailable(_))
    ));
    // Nothing was reserved behind the errors.
    assert_eq!(f.raw_remaining(1).await, Some(9));
    assert_eq!(f.holders(1).await, HashSet::from([1]));

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match f.store.reserve(1, 5, &oid(5)).await {
            Ok(Reservation::Reserved) => break,
            Ok(other) => panic!("after the restore shopper 5 got {other:?}"),
            Err(e) => {
                assert!(Instant::now() < deadline, "the store did not recover: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert_eq!(f.store.remaining(1).await.expect("remaining"), Some(8));
    assert_eq!(f.holders(1).await, HashSet::from([1, 5]));
    f.clean_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_redis_answers_unavailable_within_two_seconds() {
    require("Redis", REDIS_ADDR);
    let proxy = TcpProxy::start(REDIS_ADDR).await;
    let f = Fixture::via(&proxy.addr.to_string()).await;
    f.store.load(1, 10, &[]).await.expect("load");

    proxy.silence();
    let started = Instant::now();
    let answer = f.store.reserve(1, 2, &oid(2)).await;
    assert!(
        matches!(answer, Err(StockError::Unavailable(_))),
        "got {answer:?} from a silent Redis"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "reserve took {:?} against a silent Redis",
        started.elapsed()
    );

    // Once Redis speaks again the same store answers again. (The request that timed out is
    // delivered late and may run: a timeout cannot tell, which the module docs warn about.)
    proxy.restore();
    assert_eq!(reserve(&f.store, 1, 3).await, Reservation::Reserved);
    f.clean_up().await;
}

/// The store's connections to `peer`, as `/proc/net/tcp` lists them (what `ss -to` shows):
/// (timer kind, seconds until it fires). Kind 2 is the keepalive timer.
#[cfg(target_os = "linux")]
fn timers_of_connections_to(peer: std::net::SocketAddr) -> Vec<(u32, f64)> {
    let std::net::IpAddr::V4(ip) = peer.ip() else {
        panic!("an IPv4 peer is expected, got {peer}");
    };
    // /proc shows the address as the bytes in memory order, printed as one hex number.
    let wanted = format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes(ip.octets()),
        peer.port()
    );
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // Established (01) connections whose remote end is `peer`.
            if fields.get(2) != Some(&wanted.as_str()) || fields.get(3) != Some(&"01") {
                return None;
            }
            let (kind, when) = fields.get(5)?.split_once(':')?;
            let kind = u32::from_str_radix(kind, 16).ok()?;
            // In clock ticks of 1/100 s.
            let when = u64::from_str_radix(when, 16).ok()? as f64 / 100.0;
            Some((kind, when))
        })
        .collect()
}

/// A Redis host that vanishes without a reset (a cut cable, a dead VM) leaves an idle
/// connection looking healthy forever unless the kernel probes it: the store's connection
/// carries a keepalive timer of at most 5 s, so the dead connection is closed and replaced.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_store_connection_is_probed_by_keepalive_within_five_seconds() {
    require("Redis", REDIS_ADDR);
    // Through a proxy of its own, so the only connection to that port is the store's.
    let proxy = TcpProxy::start(REDIS_ADDR).await;
    let f = Fixture::via(&proxy.host_port()).await;
    f.store.load(1, 1, &[]).await.expect("load");
    let timers = timers_of_connections_to(proxy.addr);
    assert!(
        !timers.is_empty(),
        "no connection to the proxy {}",
        proxy.addr
    );
    for (kind, when) in timers {
        assert_eq!(kind, 2, "a connection to Redis without a keepalive timer");
        assert!(when <= 5.0, "the first keepalive probe is {when} s away");
    }
    f.clean_up().await;
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

#[tokio::test]
async fn connect_to_a_closed_port_fails_promptly_and_clearly() {
    let port = closed_port();
    let started = Instant::now();
    let result = RedisStock::connect(&format!("redis://:hunter2@127.0.0.1:{port}"), "x:").await;
    let elapsed = started.elapsed();
    match result {
        Err(StockError::Unavailable(message)) => {
            assert!(message.contains("cannot connect to Redis"), "{message}");
            assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
            assert!(
                !message.contains("hunter2"),
                "the password leaked: {message}"
            );
        }
        Ok(_) => panic!("connected to a closed port"),
    }
    assert!(elapsed < Duration::from_secs(3), "connect took {elapsed:?}");
}

#[tokio::test]
async fn connect_to_a_server_that_never_answers_fails_within_a_few_seconds() {
    // Accepts connections and then says nothing, like a wedged host.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let started = Instant::now();
    let result = RedisStock::connect(&format!("redis://{addr}"), "x:").await;
    let elapsed = started.elapsed();
    assert!(
        matches!(result, Err(StockError::Unavailable(_))),
        "connected to a server that never answers"
    );
    assert!(elapsed < Duration::from_secs(4), "connect took {elapsed:?}");
    hold.abort();
}

/// The claim protocol: whichever of the worker's claim and the gateway's release comes first
/// wins, and the other one sees it.
#[tokio::test]
async fn claim_first_refuses_the_release_and_release_first_withdraws_for_good() {
    let f = Fixture::new().await;
    let s = &f.store;
    s.load(1, 5, &[]).await.expect("load");
    assert_eq!(reserve(s, 1, 10).await, Reservation::Reserved);
    assert_eq!(reserve(s, 1, 11).await, Reservation::Reserved);

    // Shopper 10: the worker claims first; the release is refused, the unit stays sold.
    assert_eq!(
        s.claim(1, &[(10, &oid(10))]).await.expect("claim"),
        [Claim::Record]
    );
    assert_eq!(
        s.release(1, 10, &oid(10)).await.expect("release"),
        Release::Claimed
    );
    // Shopper 11: the gateway releases first; the unit is back and the order withdrawn.
    assert_eq!(
        s.release(1, 11, &oid(11)).await.expect("release"),
        Release::Withdrawn
    );
    assert_eq!(s.remaining(1).await.expect("remaining"), Some(4));
    // Shopper 11 buys again with a new order; a reload happens; the withdrawn message still
    // drops, redelivered or not, and the new order records.
    assert_eq!(
        s.reserve(1, 11, "second").await.expect("reserve"),
        Reservation::Reserved
    );
    s.load(1, 3, &hs(&[10])).await.expect("reload");
    let claims = s
        .claim(
            1,
            &[
                (11, &oid(11)),
                (10, &oid(10)),
                (11, "second"),
                (11, &oid(11)),
            ],
        )
        .await
        .expect("claim");
    assert_eq!(
        claims,
        [
            Claim::Withdrawn,
            Claim::Record,
            Claim::Record,
            Claim::Withdrawn
        ]
    );
    f.clean_up().await;
}

/// The worker's claim and the gateway's release of one order, sent at the same moment on
/// separate connections (as the two processes are), round after round: both orders of arrival
/// happen, and each round settles exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_claims_and_releases_settle_every_order_exactly_once() {
    use rand::{Rng, SeedableRng};
    const ROUNDS: i64 = 400;
    let mut f = Fixture::new().await;
    let url = format!("redis://{REDIS_ADDR}");
    let worker = Arc::new(RedisStock::connect(&url, &f.prefix).await.expect("worker"));
    let gateway = Arc::new(RedisStock::connect(&url, &f.prefix).await.expect("gateway"));
    f.store.load(1, ROUNDS, &[]).await.expect("load");
    for user in 0..ROUNDS {
        assert_eq!(reserve(&f.store, 1, user).await, Reservation::Reserved);
    }
    let start = Arc::new(tokio::sync::Barrier::new(2));
    let mut rng = rand::rngs::StdRng::seed_from_u64(19);
    let (mut claim_won, mut release_won) = (0, 0);
    for user in 0..ROUNDS {
        // A few scheduler turns of delay on either side, so neither always sends first.
        let (claim_delay, release_delay) = (rng.gen_range(0..3), rng.gen_range(0..3));
        let claiming = tokio::spawn({
            let (worker, start) = (worker.clone(), start.clone());
            async move {
                start.wait().await;
                for _ in 0..claim_delay {
                    tokio::task::yield_now().await;
                }
                worker.claim(1, &[(user, &oid(user))]).await.expect("claim")[0]
            }
        });
        let releasing = tokio::spawn({
            let (gateway, start) = (gateway.clone(), start.clone());
            async move {
                start.wait().await;
                for _ in 0..release_delay {
                    tokio::task::yield_now().await;
                }
                gateway.release(1, user, &oid(user)).await.expect("release")
            }
        });
        let (claim, release) = (
            claiming.await.expect("claim task"),
            releasing.await.expect("release task"),
        );
        // Claimed <=> recorded: an order is either sold (and the 503 turned into 202) or
        // withdrawn (and dropped by the worker), never both, never neither.
        match (claim, release) {
            (Claim::Record, Release::Claimed) => claim_won += 1,
            (Claim::Withdrawn, Release::Withdrawn) => release_won += 1,
            other => panic!("round {user} settled twice or not at all: {other:?}"),
        }
        // And for good: a redelivered message and a retried release see the same outcome.
        let again = worker.claim(1, &[(user, &oid(user))]).await.expect("claim");
        let released = gateway.release(1, user, &oid(user)).await.expect("release");
        assert_eq!((again[0], released), (claim, release), "round {user}");
        assert_eq!(
            f.holders(1).await.contains(&user),
            claim == Claim::Record,
            "round {user}: the unit is held exactly when the order is recorded"
        );
    }
    eprintln!("claim first: {claim_won}, release first: {release_won}");
    assert!(
        claim_won > 0 && release_won > 0,
        "only one order of arrival happened (claim first {claim_won}, release first {release_won})"
    );
    assert_eq!(
        f.store.remaining(1).await.expect("remaining"),
        Some(release_won)
    );
    assert_eq!(
        f.store.holders(1).await.expect("holders"),
        Some(claim_won as u64)
    );
    f.clean_up().await;
}
