use crate::util::RealShop;
use flashsale::stack::{Parts, Provided};
use flashsale_testkit::free_port;
use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// Node A (gateway + worker, in this process) and gateways B and C as `flashsale gateway`
/// processes: one ring, one secret, shared services.
pub(crate) struct Ring3 {
    pub(crate) shop: RealShop,
    /// Node A's metrics address.
    metrics_a: String,
    /// Nodes B and C.
    others: Vec<NodeProcess>,
    pub(crate) nodes: Vec<String>,
    secret: String,
}

/// A ring node running as its own process. Its config file holds only `ring_nodes`, so a
/// SIGHUP after rewriting it reloads the ring; everything else comes from the environment.
struct NodeProcess {
    listen: String,
    /// Whether it serves metrics (on a free port: `metrics_addr` once started).
    metrics: bool,
    metrics_addr: Option<String>,
    file: std::path::PathBuf,
    dist: std::path::PathBuf,
    child: Option<Child>,
}

impl NodeProcess {
    fn new(shop: &RealShop, listen: &str, metrics: bool, members: &[String]) -> NodeProcess {
        let name = listen.replace([':', '.'], "_");
        let node = NodeProcess {
            listen: listen.to_string(),
            metrics,
            metrics_addr: None,
            file: shop.config.dist.with_file_name(format!("{name}.toml")),
            dist: shop.config.dist.with_file_name(format!("dist-{name}")),
            child: None,
        };
        node.write_members(members);
        node
    }

    fn write_members(&self, members: &[String]) {
        let list: Vec<String> = members.iter().map(|m| format!("{m:?}")).collect();
        std::fs::write(&self.file, format!("ring_nodes = [{}]\n", list.join(", ")))
            .expect("config file");
    }

    /// Starts the process and waits until it says it listens.
    async fn start(&mut self, shop: &RealShop, secret: &str) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_flashsale"));
        command
            .args(["--config"])
            .arg(&self.file)
            .arg("gateway")
            .envs(shop.env())
            .env("FLASHSALE_GATEWAY_LISTEN", &self.listen)
            .env("FLASHSALE_CLUSTER_SECRET", secret)
            .env("FLASHSALE_DIST", &self.dist)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped());
        if self.metrics {
            command.env("FLASHSALE_METRICS_LISTEN", "127.0.0.1:0");
        }
        let mut child = command.spawn().expect("start a gateway process");
        let started = flashsale_testkit::read_until(&mut child, "gateway listening on")
            .unwrap_or_else(|printed| panic!("{} did not start:\n{printed}", self.listen));
        self.metrics_addr = self.metrics.then(|| started.addr("metrics"));
        self.child = Some(child);
    }

    /// SIGKILL: the node dies as in a crash.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGHUP: the node rereads its member list.
    fn hangup(&self) {
        let pid = self.child.as_ref().expect("running").id();
        let sent = Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .expect("kill -HUP");
        assert!(sent.success());
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Ring3 {
    async fn start(stocks: &[i64]) -> Ring3 {
        let products: Vec<_> = stocks.iter().map(|s| crate::util::product(*s)).collect();
        Self::start_products(&products, |_| {}).await
    }

    /// A ring selling `products`, its config adjusted by `adjust` (the nodes B and C get it
    /// through `RealShop::env`).
    pub(crate) async fn start_products(
        products: &[flashsale_core::domain::NewProduct],
        adjust: impl FnOnce(&mut flashsale_core::Config),
    ) -> Ring3 {
        // A's listeners are bound here and handed over; B and C are processes that must
        // be named in the ring before any node starts, and keep their name over a restart:
        // free ports picked now.
        let (a_listener, a) = flashsale_testkit::loopback_listener();
        let (metrics_listener, metrics_a) = flashsale_testkit::loopback_listener();
        let nodes: Vec<String> = std::iter::once(a.clone())
            .chain((1..3).map(|_| format!("127.0.0.1:{}", free_port())))
            .collect();
        let secret = flashsale_core::config::random_secret();
        let (ring, cluster) = (nodes.clone(), secret.clone());
        let provided = Provided {
            gateway: Some(a_listener),
            metrics: Some(metrics_listener),
            ..Provided::default()
        };
        let shop = RealShop::start_on(products, Parts::ALL, provided, |c| {
            adjust(c);
            c.gateway_listen = a;
            c.ring_nodes = ring;
            c.cluster_secret = Some(cluster);
        })
        .await;
        let mut others = Vec::new();
        for node in &nodes[1..] {
            let mut node = NodeProcess::new(&shop, node, true, &nodes);
            node.start(&shop, &secret).await;
            others.push(node);
        }
        Ring3 {
            shop,
            metrics_a,
            others,
            nodes,
            secret,
        }
    }

    async fn buy_at(
        &self,
        client: &reqwest::Client,
        node: usize,
        uid: i64,
        product: i64,
    ) -> (u16, String) {
        let r = client
            .post(format!(
                "http://{}/getOne?productID={product}",
                self.nodes[node]
            ))
            .header("Cookie", self.shop.cookie(uid))
            .send()
            .await
            .expect("the node answers");
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.expect("JSON");
        (status, body["result"].as_str().unwrap_or("?").to_string())
    }

    /// Each node's metrics address, in node order.
    pub(crate) fn metrics(&self) -> Vec<String> {
        std::iter::once(self.metrics_a.clone())
            .chain(self.others.iter().filter_map(|n| n.metrics_addr.clone()))
            .collect()
    }

    /// The sum over the three nodes of a metric line's value.
    pub(crate) async fn metric_sum(&self, line_start: &str) -> f64 {
        let mut sum = 0.0;
        for addr in &self.metrics() {
            let text = reqwest::get(format!("http://{addr}/metrics"))
                .await
                .expect("metrics")
                .text()
                .await
                .expect("text");
            sum += text
                .lines()
                .find(|l| l.starts_with(line_start))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or_else(|| panic!("no {line_start} in {text}"));
        }
        sum
    }

    /// Kills node `i` (1 or 2) with SIGKILL.
    pub(crate) fn kill(&mut self, i: usize) {
        self.others[i - 1].kill();
    }

    pub(crate) async fn restart(&mut self, i: usize) {
        let (shop, secret) = (&self.shop, self.secret.clone());
        self.others[i - 1].start(shop, &secret).await;
    }

    pub(crate) async fn stop(mut self) {
        for node in &mut self.others {
            node.kill();
        }
        self.shop.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_shoppers_clicks_on_two_nodes_are_decided_by_one_owner() {
    let ring = Ring3::start(&[100, 100]).await;
    let [a, b] = [ring.shop.product_ids[0], ring.shop.product_ids[1]];
    let client = reqwest::Client::new();
    // Two products at once on two nodes: separate nodes deciding would sell both; the owner's
    // cooldown lets exactly one through.
    for uid in 1..=20 {
        let (first, second) = tokio::join!(
            ring.buy_at(&client, (uid % 3) as usize, uid, a),
            ring.buy_at(&client, ((uid + 1) % 3) as usize, uid, b)
        );
        let mut statuses = [first.0, second.0];
        statuses.sort();
        assert_eq!(statuses, [202, 429], "shopper {uid}: {first:?} {second:?}");
    }
    ring.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forged_forwarding_marker_is_refused_and_reserves_nothing() {
    let ring = Ring3::start(&[100]).await;
    let pid = ring.shop.product_id;
    let client = reqwest::Client::new();
    for marker in [
        "1.00",
        "",
        "x",
        &format!("{}.{}", flashsale_core::domain::now_unix(), "ab".repeat(32)),
    ] {
        for node in 0..3 {
            let r = client
                .post(format!(
                    "http://{}/getOne?productID={pid}",
                    ring.nodes[node]
                ))
                .header("Cookie", ring.shop.cookie(42))
                .header("X-Flashsale-Forwarded", marker)
                .send()
                .await
                .expect("answer");
            assert_eq!(r.status(), 401, "marker {marker:?} at node {node}");
        }
    }
    let held = ring
        .shop
        .stack
        .as_ref()
        .expect("running")
        .stock
        .holders(pid)
        .await
        .expect("holders");
    assert_eq!(held, Some(0));
    // The genuine path still works from every node.
    assert_eq!(ring.buy_at(&client, 2, 42, pid).await.0, 202);
    ring.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_storm_spread_over_three_nodes_sells_exactly_the_stock() {
    let _turn = crate::util::storm_turn().await;
    const STOCK: i64 = 100;
    let ring = Arc::new(Ring3::start(&[STOCK]).await);
    let pid = ring.shop.product_id;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("client");
    let mut clicks = Vec::new();
    for uid in 1..=300 {
        for k in 0..3 {
            let (ring, client) = (ring.clone(), client.clone());
            clicks.push(tokio::spawn(async move {
                (
                    uid,
                    ring.buy_at(&client, ((uid + k) % 3) as usize, uid, pid)
                        .await,
                )
            }));
        }
    }
    let mut answers: HashMap<String, usize> = HashMap::new();
    let mut winners = HashSet::new();
    for click in clicks {
        let (uid, (status, result)) = click.await.expect("click");
        // A 503 (a store call or a publish confirm past its deadline on a starved machine)
        // reserved nothing: `buyers == winners` checks it, and it starts the cooldown like any
        // decision, so the counts of too_fast below hold either way.
        assert!(
            matches!(status, 202 | 409 | 410 | 429 | 503),
            "unexpected {status} {result}"
        );
        if status == 202 {
            assert!(winners.insert(uid), "shopper {uid} got two units");
        }
        *answers.entry(result).or_default() += 1;
    }
    assert!(winners.len() as i64 <= STOCK, "oversold: {answers:?}");
    // What the 503s left sells afterwards, over every node, each unit once.
    let in_storm = winners.len();
    assert!(in_storm > 0, "the storm sold nothing: {answers:?}");
    let (ring_ref, client_ref) = (&ring, &client);
    let after = crate::util::sell_the_rest(STOCK, &mut winners, 301, |uid| {
        ring_ref.buy_at(client_ref, (uid % 3) as usize, uid, pid)
    })
    .await;
    eprintln!(
        "storm answers {answers:?}; {in_storm} units sold in the storm, {} after it",
        winners.len() - in_storm
    );
    let sold = STOCK;
    let orders = ring
        .shop
        .wait_for_orders(&winners, Duration::from_secs(30))
        .await;
    let buyers: HashSet<i64> = orders.iter().map(|o| o.user_id).collect();
    assert_eq!(buyers, winners);
    // Each shopper's three clicks met one owner: the two extra clicks were too fast.
    assert_eq!(
        answers.get("too_fast").copied().unwrap_or(0),
        600,
        "{answers:?}"
    );
    // The nodes' metrics count every decision once, where it was made.
    let queued = "flashsale_buy_requests_total{result=\"queued\"}";
    let too_fast = "flashsale_buy_requests_total{result=\"too_fast\"}";
    assert_eq!(ring.metric_sum(queued).await, sold as f64);
    assert_eq!(ring.metric_sum(too_fast).await, 600.0);
    assert!(ring.metric_sum("flashsale_forwarded_requests_total").await > 0.0);
    assert_eq!(
        ring.metric_sum("flashsale_buy_seconds_count").await,
        (900 + after) as f64
    );
    Arc::into_inner(ring).expect("sole owner").stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_owners_shoppers_go_to_the_next_node_and_come_back() {
    let mut ring = Ring3::start(&[100, 100, 100]).await;
    let [p1, p2, p3] = [
        ring.shop.product_ids[0],
        ring.shop.product_ids[1],
        ring.shop.product_ids[2],
    ];
    let owners = flashsale_core::Ring::new(&ring.nodes, 20);
    // A shopper node B owns.
    let uid = (1..)
        .find(|u: &i64| owners.owner(&u.to_string()) == Some(ring.nodes[1].as_str()))
        .expect("B owns someone");
    let client = reqwest::Client::new();

    ring.kill(1);
    // Sent to A, whose ring says B: the next node clockwise decides instead.
    let started = std::time::Instant::now();
    let first_click = started;
    assert_eq!(ring.buy_at(&client, 0, uid, p1).await.0, 202);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "failover took {:?}",
        started.elapsed()
    );
    // And it keeps deciding: the shopper's next click, through C, is too fast.
    assert_eq!(ring.buy_at(&client, 2, uid, p2).await.0, 429);

    ring.restart(1).await;
    // Within a few health checks the shopper is B's again: B has no cooldown for them.
    let mut back = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (status, result) = ring.buy_at(&client, 0, uid, p3).await;
        if status == 202 {
            back = true;
            break;
        }
        assert_eq!(status, 429, "{result}");
    }
    assert!(back, "the shopper never went back to their owner");
    // Before the successor's cooldown ran out: the 202 came from B, not from the successor.
    assert!(
        first_click.elapsed() < Duration::from_secs(10),
        "too slow to tell who decided"
    );
    ring.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fourth_node_joins_without_restarts_and_only_its_shoppers_move() {
    let mut ring = Ring3::start(&[1_000, 1_000]).await;
    let [p1, p2] = [ring.shop.product_ids[0], ring.shop.product_ids[1]];
    let client = reqwest::Client::new();
    let shoppers: Vec<i64> = (1..=60).collect();
    for &uid in &shoppers {
        assert_eq!(
            ring.buy_at(&client, (uid % 3) as usize, uid, p1).await.0,
            202
        );
    }

    // D starts with the four-node list; A, B and C reload theirs while running (A in this
    // process, B and C by SIGHUP after their config file changed).
    // A free port picked now: the others are told D's name before it starts.
    let d = format!("127.0.0.1:{}", free_port());
    let mut members = ring.nodes.clone();
    members.push(d.clone());
    let mut node_d = NodeProcess::new(&ring.shop, &d, false, &members);
    node_d.start(&ring.shop, &ring.secret).await;
    let vnodes = ring.shop.config.virtual_nodes;
    ring.shop
        .stack
        .as_ref()
        .expect("A runs")
        .set_ring_members(&members, vnodes)
        .expect("A reloads");
    for node in &ring.others {
        node.write_members(&members);
        node.hangup();
    }
    ring.nodes = members.clone();
    // The reload is asynchronous: wait until B's and C's metrics list D among their peers.
    for metrics in &ring.metrics()[1..] {
        let started = std::time::Instant::now();
        loop {
            let text = reqwest::get(format!("http://{metrics}/metrics"))
                .await
                .expect("metrics")
                .text()
                .await
                .expect("text");
            if text.contains(&format!("peer=\"{d}\"")) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "no reload at {metrics}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // Within the cooldown: a shopper who moved to D meets no cooldown there; everyone else
    // still meets their old owner's.
    let after = flashsale_core::Ring::new(&members, vnodes);
    let mut moved = 0;
    for &uid in &shoppers {
        let now_on_d = after.owner(&uid.to_string()) == Some(d.as_str());
        let (status, result) = ring.buy_at(&client, (uid % 4) as usize, uid, p2).await;
        let expected = if now_on_d { 202 } else { 429 };
        assert_eq!(
            status, expected,
            "shopper {uid} (moved: {now_on_d}): {result}"
        );
        moved += usize::from(now_on_d);
    }
    assert!(
        moved > 0 && moved < shoppers.len(),
        "{moved} of {} moved",
        shoppers.len()
    );
    node_d.kill();
    ring.stop().await;
}

/// Regression (issue 14, finding 6): logout only cleared the browser's cookies, so a copied
/// `sign` kept working on every node for its whole TTL. Now a logout on one node ends the
/// session on all three (the revocation goes through Redis; each node pulls it within a
/// second), while the shopper's other sessions go on until "log out everywhere".
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finding_6_logout_on_one_node_revokes_the_copied_sign_on_every_node() {
    let ring = Ring3::start(&[5]).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let a = &ring.nodes[0];
    let r = client
        .post(format!("http://{a}/user/register"))
        .form(&[
            ("nickName", "Mo"),
            ("userName", "mo"),
            ("password", "correct horse"),
        ])
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 303);
    let login = || async {
        let r = client
            .post(format!("http://{a}/user/login"))
            .form(&[("userName", "mo"), ("password", "correct horse")])
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), 303);
        r.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok()?.split(';').next().map(String::from))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let copied = login().await;
    let other_device = login().await;
    // 404: signed in, no such order; 401: not signed in.
    let status_at = |node: &str, cookie: &str| {
        let request = client
            .get(format!("http://{node}/order/no-such-order"))
            .header("Cookie", cookie)
            .send();
        async move { request.await.expect("order status").status().as_u16() }
    };
    for node in &ring.nodes {
        assert_eq!(status_at(node, &copied).await, 404, "{node} before logout");
    }

    let c = &ring.nodes[2];
    let r = client
        .post(format!("http://{c}/user/logout"))
        .header("Cookie", &copied)
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 303);
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    for node in &ring.nodes {
        while status_at(node, &copied).await != 401 {
            assert!(
                std::time::Instant::now() < deadline,
                "{node} still accepts the copied sign 3 s after logout"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for node in &ring.nodes {
        assert_eq!(status_at(node, &other_device).await, 404, "{node}");
    }

    // Log out everywhere (from B): the other session ends on every node too.
    let b = &ring.nodes[1];
    let r = client
        .post(format!("http://{b}/user/logout"))
        .header("Cookie", &other_device)
        .form(&[("everywhere", "1")])
        .send()
        .await
        .expect("logout everywhere");
    assert_eq!(r.status(), 303);
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    for node in &ring.nodes {
        while status_at(node, &other_device).await != 401 {
            assert!(std::time::Instant::now() < deadline, "{node}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    ring.stop().await;
}
