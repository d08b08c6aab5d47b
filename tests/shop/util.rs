use flashsale::stack::{Parts, Provided, Stack};
use flashsale_core::domain::{NewProduct, OrderStatus};
use flashsale_core::{Config, Db, SignCodec};
use flashsale_gateway::buy::Clock;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct TestShop {
    pub stack: Stack,
    pub url: String,
    pub config: Config,
    pub product_ids: Vec<i64>,
    /// The gateway's clock: a test moves it past a cooldown instead of waiting it out.
    pub clock: Clock,
    _dir: tempfile::TempDir,
}

/// A product on sale now with `stock` units.
pub fn product(name: &str, stock: i64) -> NewProduct {
    NewProduct {
        name: name.into(),
        stock,
        price_cents: 1_000,
        image: "/static/img/phone.svg".into(),
        description: "test product".into(),
        sale_start: None,
        sale_end: None,
        queue: false,
        admit_per_second: 100,
    }
}

impl TestShop {
    /// A shop with its own database, site and port, holding exactly `products`.
    pub async fn start(products: &[NewProduct], cooldown_secs: u64) -> TestShop {
        Self::start_with(products, cooldown_secs, |_| {}).await
    }

    /// Like [`TestShop::start`], with the config adjusted by `tweak` first.
    pub async fn start_with(
        products: &[NewProduct],
        cooldown_secs: u64,
        tweak: impl FnOnce(&mut Config),
    ) -> TestShop {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config {
            database_url: format!("sqlite://{}/shop.db", dir.path().display()),
            dist: dir.path().join("dist"),
            data_dir: dir.path().join("data"),
            // Any free port: the stack says which (`stack.gateway_url`).
            gateway_listen: "127.0.0.1:0".into(),
            cookie_secret: Some(flashsale_core::config::random_secret()),
            cooldown_secs,
            gateway_threads: 2,
            ..Config::default()
        };
        tweak(&mut config);
        // Products are put in before the shop starts, so no demo catalogue is seeded.
        let db = Db::connect(&config.database_url).await.expect("connect");
        db.migrate().await.expect("migrate");
        let mut product_ids = Vec::new();
        for p in products {
            product_ids.push(db.insert_product(p).await.expect("insert product"));
        }
        db.close().await;
        let clock = Clock::default();
        let provided = Provided {
            clock: clock.clone(),
            ..Provided::default()
        };
        let stack = Stack::start_provided(&config, Parts::ALL, provided)
            .await
            .expect("the shop starts");
        // The port it was given, for tests that speak to the address itself.
        config.gateway_listen = stack.gateway_addr.clone().expect("a gateway runs");
        TestShop {
            url: stack.gateway_url.clone(),
            stack,
            config,
            product_ids,
            clock,
            _dir: dir,
        }
    }

    pub fn db(&self) -> &Db {
        &self.stack.db
    }

    /// A browser-like client: keeps cookies, does not follow redirects (tests check them).
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// Registers `user_name` and logs in through the real forms; returns the logged-in client.
    pub async fn shopper(&self, user_name: &str) -> reqwest::Client {
        let browser = self.browser();
        let r = browser
            .post(format!("{}/user/register", self.url))
            .form(&[
                ("nickName", user_name),
                ("userName", user_name),
                ("password", "correct horse"),
            ])
            .send()
            .await
            .expect("register");
        assert_eq!(r.status(), 303, "register {user_name}");
        let r = browser
            .post(format!("{}/user/login", self.url))
            .form(&[("userName", user_name), ("password", "correct horse")])
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), 303, "login {user_name}");
        browser
    }

    /// The cookie header a shopper `uid` gets at login, minted with the shop's secret (for
    /// tests with hundreds of shoppers, where logging each in would only test Argon2).
    pub fn cookie_header(&self, uid: i64) -> String {
        let secret = self
            .config
            .cookie_secret
            .clone()
            .expect("tests set a secret");
        let token = SignCodec::new(1, secret.as_bytes())
            .issue(uid, flashsale_core::domain::now_unix() + 3600);
        format!("uid={uid}; sign={token}")
    }

    pub async fn buy(&self, client: &reqwest::Client, product_id: i64) -> (u16, serde_json::Value) {
        let r = client
            .post(format!("{}/getOne?productID={product_id}", self.url))
            .send()
            .await
            .expect("buy request");
        let status = r.status().as_u16();
        (status, r.json().await.expect("JSON answer"))
    }

    /// Waits until the database holds `n` confirmed orders of `product_id`.
    pub async fn wait_for_confirmed(
        &self,
        product_id: i64,
        n: usize,
    ) -> Vec<flashsale_core::domain::Order> {
        for _ in 0..200 {
            let orders = self
                .db()
                .orders_of_product(product_id)
                .await
                .expect("orders");
            if orders
                .iter()
                .filter(|o| o.status == OrderStatus::Confirmed)
                .count()
                >= n
            {
                return orders;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("fewer than {n} confirmed orders of product {product_id} after 10 s");
    }
}

/// Sends `request` as raw bytes (paths a client library would normalise) and returns the
/// status code and the whole response.
pub async fn raw(addr: &str, request: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response))
        .await
        .expect("response within 5 s")
        .expect("read");
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (status, text)
}

/// `flashsale up` as an operator runs it: the real binary, in its own folder (SQLite under
/// `data/`, memory stock and queue), on free ports. Its log goes to `up.log` in the folder.
pub struct UpProcess {
    child: std::process::Child,
    pub url: String,
    pub admin_url: String,
}

impl UpProcess {
    /// Starts `flashsale up` in `dir` with `env` added, and waits for its banner.
    pub fn start(dir: &std::path::Path, env: &[(&str, String)]) -> UpProcess {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("up.log"))
            .expect("log file");
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_flashsale"))
            .arg("up")
            .current_dir(dir)
            // Any free ports: it prints which.
            .env("FLASHSALE_GATEWAY_LISTEN", "127.0.0.1:0")
            .env("FLASHSALE_ADMIN_LISTEN", "127.0.0.1:0")
            .env("FLASHSALE_GATEWAY_THREADS", "2")
            .env_remove("FLASHSALE_CONFIG")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(std::process::Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("flashsale up starts");
        let Ok(banner) = flashsale_testkit::read_until(&mut child, "Ctrl-C") else {
            panic!(
                "flashsale up did not come up; see {}",
                dir.join("up.log").display()
            );
        };
        UpProcess {
            child,
            url: format!("http://{}", banner.addr("gateway")),
            admin_url: format!("http://{}", banner.addr("admin")),
        }
    }

    /// SIGKILL, as an OOM kill or a power cut would stop it.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL flashsale up");
        self.child.wait().expect("reap");
    }

    /// SIGTERM, as systemd stops it; it must exit cleanly.
    pub fn stop(&mut self) {
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success());
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "flashsale up exits cleanly: {status}");
    }
}

impl Drop for UpProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `flashsale <args>` in `dir` with `env` added: (success, stdout and stderr).
pub fn flashsale_command(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, String)],
) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flashsale"))
        .args(args)
        .current_dir(dir)
        .env_remove("FLASHSALE_CONFIG")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("flashsale runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The `Cookie` header of shopper `uid`, minted with `secret` as the gateway would at login.
pub fn cookie_for(secret: &str, uid: i64) -> String {
    let token =
        SignCodec::new(1, secret.as_bytes()).issue(uid, flashsale_core::domain::now_unix() + 3600);
    format!("uid={uid}; sign={token}")
}
