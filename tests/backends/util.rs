use flashsale::audit::{audit, Audit, QueueCounts};
use flashsale::stack::{Parts, Provided, Stack};
use flashsale_core::domain::{NewProduct, Order};
use flashsale_core::{Config, Db, SignCodec};
use flashsale_gateway::buy::Clock;
use flashsale_testkit::{mysql_database, require, unique_name, TcpProxy, TestDatabase};
use std::collections::HashSet;
use std::time::Duration;

pub const REDIS: &str = "127.0.0.1:6379";
pub const AMQP: &str = "127.0.0.1:5672";

/// Proxies between the shop and each service, for the tests to cut.
pub struct Proxies {
    pub mysql: TcpProxy,
    pub redis: TcpProxy,
    pub amqp: TcpProxy,
}

pub struct RealShop {
    pub config: Config,
    pub proxies: Proxies,
    pub stack: Option<Stack>,
    pub product_id: i64,
    pub product_ids: Vec<i64>,
    /// The gateway's clock: a test moves it past a cooldown instead of waiting it out.
    pub clock: Clock,
    /// A direct connection to the database (not through the proxy), for checks.
    pub db: Db,
    /// Kept so the database and the folder live as long as the shop.
    _database: TestDatabase,
    _dir: tempfile::TempDir,
}

pub fn product(stock: i64) -> NewProduct {
    NewProduct {
        name: "Hot item".into(),
        stock,
        price_cents: 999,
        image: "/static/img/phone.svg".into(),
        description: String::new(),
        sale_start: None,
        sale_end: None,
        queue: false,
        admit_per_second: 100,
    }
}

impl RealShop {
    /// A product with `stock` units, and the parts of the shop `parts` says, on the real
    /// services reached through proxies.
    pub async fn start(stock: i64, parts: Parts) -> RealShop {
        Self::start_with(&[stock], parts, |_| {}).await
    }

    /// Products with the given stocks, and the config adjusted before the shop starts.
    pub async fn start_with(
        stocks: &[i64],
        parts: Parts,
        adjust: impl FnOnce(&mut Config),
    ) -> RealShop {
        let products: Vec<NewProduct> = stocks.iter().map(|s| product(*s)).collect();
        Self::start_products(&products, parts, adjust).await
    }

    /// `products`, and the config adjusted before the shop starts.
    pub async fn start_products(
        products: &[NewProduct],
        parts: Parts,
        adjust: impl FnOnce(&mut Config),
    ) -> RealShop {
        Self::start_on(products, parts, Provided::default(), adjust).await
    }

    /// [`RealShop::start_products`] on listeners (and a clock) the test provides.
    pub async fn start_on(
        products: &[NewProduct],
        parts: Parts,
        provided: Provided,
        adjust: impl FnOnce(&mut Config),
    ) -> RealShop {
        // The shop's logs, when asked for: RUST_LOG=info cargo test --test backends
        if std::env::var_os("RUST_LOG").is_some() {
            flashsale::cmd::init_logging(0);
        }
        require("MariaDB", "127.0.0.1:3306");
        require("Redis", REDIS);
        require("RabbitMQ", AMQP);
        let database = mysql_database();
        let proxies = Proxies {
            mysql: TcpProxy::start("127.0.0.1:3306").await,
            redis: TcpProxy::start(REDIS).await,
            amqp: TcpProxy::start(AMQP).await,
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config {
            database_url: database.url_via(&proxies.mysql.host_port()),
            stock_url: format!("redis://{}/", proxies.redis.host_port()),
            queue_url: format!("amqp://guest:guest@{}/%2f", proxies.amqp.host_port()),
            stock_prefix: format!("{}:", unique_name("fs_test")),
            queue_name: unique_name("fs_test_orders"),
            // Any free port: the stack says which.
            gateway_listen: "127.0.0.1:0".into(),
            dist: dir.path().join("dist"),
            data_dir: dir.path().join("data"),
            cookie_secret: Some(flashsale_core::config::random_secret()),
            cooldown_secs: 10,
            gateway_threads: 2,
            worker_batch: 50,
            ..Config::default()
        };
        adjust(&mut config);
        let db = Db::connect(&database.url).await.expect("connect");
        db.migrate().await.expect("migrate");
        let mut product_ids = Vec::new();
        for p in products {
            product_ids.push(db.insert_product(p).await.expect("product"));
        }
        let clock = provided.clock.clone();
        let stack = Stack::start_provided(&config, parts, provided)
            .await
            .expect("the shop starts");
        if let Some(addr) = &stack.gateway_addr {
            // The port it was given, for `url` and for tests that copy the config.
            config.gateway_listen = addr.clone();
        }
        RealShop {
            config,
            proxies,
            stack: Some(stack),
            product_id: product_ids[0],
            product_ids,
            clock,
            db,
            _database: database,
            _dir: dir,
        }
    }

    /// Where the shop's `/metrics` answers (the config set `metrics_listen`).
    pub fn metrics_addr(&self) -> String {
        self.stack
            .as_ref()
            .and_then(|stack| stack.metrics_addr.clone())
            .expect("a running shop with metrics_listen")
    }

    pub fn database_name(&self) -> &str {
        &self._database.name
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.config.gateway_listen)
    }

    pub fn cookie(&self, uid: i64) -> String {
        let secret = self.config.cookie_secret.clone().expect("secret");
        let token = SignCodec::new(1, secret.as_bytes())
            .issue(uid, flashsale_core::domain::now_unix() + 3600);
        format!("uid={uid}; sign={token}")
    }

    /// One Buy of shopper `uid`: (status, result).
    pub async fn buy(&self, client: &reqwest::Client, uid: i64) -> (u16, String) {
        let r = client
            .post(format!(
                "{}/getOne?productID={}",
                self.url(),
                self.product_id
            ))
            .header("Cookie", self.cookie(uid))
            .send()
            .await
            .expect("the gateway answers");
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.expect("JSON");
        (status, body["result"].as_str().unwrap_or("?").to_string())
    }

    /// One Buy from each of `shoppers`, 256 in flight at a time; returns the shoppers answered
    /// 202 and those answered 503.
    pub async fn buy_all(
        &self,
        shoppers: impl Iterator<Item = i64>,
    ) -> (HashSet<i64>, HashSet<i64>) {
        self.buy_all_via(&[self.url()], shoppers).await
    }

    /// [`RealShop::buy_all`] spread over several gateways (`http://host:port` each), shopper
    /// `uid` at gateway `uid % n`.
    pub async fn buy_all_via(
        &self,
        gateways: &[String],
        shoppers: impl Iterator<Item = i64>,
    ) -> (HashSet<i64>, HashSet<i64>) {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(128)
            .build()
            .expect("client");
        let urls: Vec<String> = gateways
            .iter()
            .map(|g| format!("{g}/getOne?productID={}", self.product_id))
            .collect();
        let in_flight = std::sync::Arc::new(tokio::sync::Semaphore::new(256));
        let clicks: Vec<_> = shoppers
            .map(|uid| {
                let url = &urls[uid.rem_euclid(urls.len() as i64) as usize];
                let req = client.post(url).header("Cookie", self.cookie(uid));
                let in_flight = in_flight.clone();
                tokio::spawn(async move {
                    let _permit = in_flight.acquire_owned().await.expect("semaphore open");
                    let r = req.send().await.expect("the gateway answers");
                    (uid, r.status().as_u16())
                })
            })
            .collect();
        let (mut accepted, mut unavailable) = (HashSet::new(), HashSet::new());
        for click in clicks {
            let (uid, status) = click.await.expect("task");
            match status {
                202 => {
                    accepted.insert(uid);
                }
                503 => {
                    unavailable.insert(uid);
                }
                410 | 409 | 429 => {}
                other => panic!("unexpected status {other}"),
            }
        }
        (accepted, unavailable)
    }

    /// Waits until the database holds exactly the orders of `shoppers`, and returns them.
    pub async fn wait_for_orders(&self, shoppers: &HashSet<i64>, within: Duration) -> Vec<Order> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let orders = self
                .db
                .orders_of_product(self.product_id)
                .await
                .expect("orders");
            if orders.len() >= shoppers.len() || tokio::time::Instant::now() > deadline {
                return orders;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Orders of the product in the database right now.
    pub async fn recorded(&self) -> usize {
        self.db
            .orders_of_product(self.product_id)
            .await
            .expect("orders")
            .len()
    }

    /// The audit as `flashsale audit` computes it, on direct connections.
    pub async fn audit(&self) -> Audit {
        let stock = flashsale_core::stock::RedisStock::connect(
            &format!("redis://{REDIS}/"),
            &self.config.stock_prefix,
        )
        .await
        .expect("redis");
        let amqp = format!("amqp://guest:guest@{AMQP}/%2f");
        let (waiting, dead) = flashsale::backends::queue_counts(&amqp, &self.config.queue_name)
            .await
            .expect("queue counts");
        audit(&self.db, &stock, Some(QueueCounts { waiting, dead }))
            .await
            .expect("audit")
    }

    /// Waits until the audit adds up, with the workers still running: a batch committed by a
    /// worker that died before its ack comes back once more (as duplicates), and the books add
    /// up once a worker has taken it. Fails with the last report after `within`.
    pub async fn wait_for_consistent_audit(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let report = self.audit().await;
            if report.consistent() {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{report}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The whole config as environment variables, for a `flashsale` child process.
    pub fn env(&self) -> Vec<(String, String)> {
        let c = &self.config;
        vec![
            ("FLASHSALE_DATABASE_URL".into(), c.database_url.clone()),
            ("FLASHSALE_STOCK_URL".into(), c.stock_url.clone()),
            ("FLASHSALE_QUEUE_URL".into(), c.queue_url.clone()),
            ("FLASHSALE_STOCK_PREFIX".into(), c.stock_prefix.clone()),
            ("FLASHSALE_QUEUE_NAME".into(), c.queue_name.clone()),
            (
                "FLASHSALE_DATA_DIR".into(),
                c.data_dir.display().to_string(),
            ),
            ("FLASHSALE_WORKER_BATCH".into(), c.worker_batch.to_string()),
            ("FLASHSALE_WORKER_PREFETCH".into(), "1000".into()),
            (
                "FLASHSALE_QUEUE_POW_DIFFICULTY".into(),
                c.queue_pow_difficulty.to_string(),
            ),
            (
                "FLASHSALE_QUEUE_PASS_SECS".into(),
                c.queue_pass_secs.to_string(),
            ),
            (
                "FLASHSALE_QUEUE_PREQUEUE_SECS".into(),
                c.queue_prequeue_secs.to_string(),
            ),
            (
                "FLASHSALE_COOKIE_SECRET".into(),
                c.cookie_secret.clone().unwrap_or_default(),
            ),
        ]
    }

    pub async fn stop(&mut self) {
        if let Some(stack) = self.stack.take() {
            stack.shutdown().await.expect("clean shutdown");
        }
    }

    /// Stops the shop; its keys and queues are removed when it is dropped.
    pub async fn cleanup(mut self) {
        self.stop().await;
        self.db.close().await;
    }
}

impl Drop for RealShop {
    /// Removes the shop's keys and queues, also when the test failed (the database goes with
    /// `_database`). Drop cannot await, so this runs on a runtime of its own.
    fn drop(&mut self) {
        let prefix = self.config.stock_prefix.clone();
        let queue = self.config.queue_name.clone();
        let cleaning = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Runtime::new() else {
                return;
            };
            runtime.block_on(async {
                let amqp = format!("amqp://guest:guest@{AMQP}/%2f");
                let _ = flashsale_core::queue::delete_queues(&amqp, &queue).await;
            });
            flashsale_testkit::delete_redis_keys(&prefix);
        });
        let _ = cleaning.join();
    }
}

/// Takes one message off `{queue}.dead`: the order and its `x-flashsale-reason` header.
pub async fn take_dead_letter(
    queue: &str,
) -> Option<(flashsale_core::domain::OrderMessage, String)> {
    use lapin::options::BasicGetOptions;
    use lapin::types::AMQPValue;
    let conn = lapin::Connection::connect(
        &format!("amqp://guest:guest@{AMQP}/%2f"),
        lapin::ConnectionProperties::default(),
    )
    .await
    .expect("connect to RabbitMQ");
    let channel = conn.create_channel().await.expect("channel");
    let dead = format!("{queue}.dead");
    let message = channel
        .basic_get(dead.as_str().into(), BasicGetOptions { no_ack: true })
        .await
        .expect("basic.get")?;
    // Every message is a list of orders; a dead letter holds the one order it is about.
    let [order]: [flashsale_core::domain::OrderMessage; 1] =
        serde_json::from_slice(&message.delivery.data).expect("a list of one order");
    let reason = message
        .delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get("x-flashsale-reason").cloned())
        .map(|v| match v {
            AMQPValue::LongString(s) => s.to_string(),
            other => format!("{other:?}"),
        })
        .unwrap_or_default();
    let _ = conn.close(0, "done".into()).await;
    Some((order, reason))
}

/// Storms take turns: several thousand Buys at once each, on two cores, would otherwise push
/// the broker's confirms past their deadline for one another, and each storm test is about its
/// own storm. Hold the guard for the test's whole run.
pub async fn storm_turn() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    TURN.lock().await
}

/// After a storm, sells what is left of `stock` to new shoppers from `first_uid` on, one at a
/// time, until `sold` (the storm's winners, extended here) holds the whole stock, then checks
/// that the next shopper finds it sold out; returns the Buys it sent. On a starved machine some storm clicks are honestly answered 503 (a store
/// call or a confirm past its deadline) and reserve nothing: the units they left must still
/// sell, each once, so a storm test can require exactly the stock sold whatever the load.
/// A 503 or a 410 here is tried again with the next shopper (a unit a 503 gave back returns
/// to sale once the gateway's catalogue refresh lifts its sold-out mark); a unit that never
/// comes back fails the test after a minute.
pub async fn sell_the_rest<F, Fut>(
    stock: i64,
    sold: &mut HashSet<i64>,
    first_uid: i64,
    mut buy: F,
) -> usize
where
    F: FnMut(i64) -> Fut,
    Fut: std::future::Future<Output = (u16, String)>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut uid = first_uid;
    let mut sent = 0;
    while (sold.len() as i64) < stock {
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {stock} units sold a minute after the storm: the rest never came back",
            sold.len()
        );
        sent += 1;
        match buy(uid).await {
            (202, _) => assert!(sold.insert(uid), "shopper {uid} got two units"),
            (410 | 503, _) => tokio::time::sleep(Duration::from_millis(100)).await,
            (status, result) => panic!("after the storm, shopper {uid}: {status} {result}"),
        }
        uid += 1;
    }
    // And no unit beyond it: the next shopper finds the product sold out.
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the store never answered sold out"
        );
        sent += 1;
        match buy(uid).await {
            (410, _) => return sent,
            (503, _) => tokio::time::sleep(Duration::from_millis(100)).await,
            (status, result) => panic!("beyond the stock, shopper {uid}: {status} {result}"),
        }
        uid += 1;
    }
}
