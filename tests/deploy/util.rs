use flashsale::stack::{Parts, Provided, Stack};
use flashsale_core::domain::NewProduct;
use flashsale_core::{Config, Db};
use flashsale_testkit::free_port;
use flashsale_testkit::nginx::LocalNginx;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository's file `relative` (tests run from anywhere).
pub fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

pub fn read_repo_file(relative: &str) -> String {
    let path = repo_file(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Fails loudly when a tool the test needs is not installed (`.ci/run` installs them).
pub fn require_tool(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: apt-get install {package} (.ci/run does)"
    );
}

/// The shop in one process (SQLite, in-memory stock and queue) on a free port, holding one
/// product on sale, with its site rendered into a `dist/` that nginx's workers can read.
pub struct Shop {
    // Kept alive for the test; dropping it stops the shop.
    _stack: Stack,
    pub url: String,
    pub addr: String,
    pub dist: PathBuf,
    pub product_id: i64,
    _dir: tempfile::TempDir,
}

impl Shop {
    pub async fn start() -> Shop {
        let dir = tempfile::tempdir().expect("tempdir");
        // nginx's workers run as www-data: the site must be readable by others.
        set_mode(dir.path(), 0o755);
        let config = Config {
            database_url: format!("sqlite://{}/shop.db", dir.path().display()),
            dist: dir.path().join("dist"),
            data_dir: dir.path().join("data"),
            // Any free port: the stack says which.
            gateway_listen: "127.0.0.1:0".into(),
            cookie_secret: Some(flashsale_core::config::random_secret()),
            cooldown_secs: 10,
            gateway_threads: 2,
            // nginx in front names the client in X-Forwarded-For.
            trusted_proxies: vec!["127.0.0.1".into()],
            ..Config::default()
        };
        // The product is put in before the shop starts, so no demo catalogue is seeded.
        let db = Db::connect(&config.database_url).await.expect("connect");
        db.migrate().await.expect("migrate");
        let product_id = db
            .insert_product(&NewProduct {
                name: "Phone".into(),
                stock: 5,
                price_cents: 19_900,
                image: "/static/img/phone.svg".into(),
                description: "a phone sold through nginx".into(),
                sale_start: None,
                sale_end: None,
                queue: false,
                admit_per_second: 100,
            })
            .await
            .expect("insert product");
        db.close().await;
        let stack = Stack::start(&config).await.expect("the shop starts");
        Shop {
            url: stack.gateway_url.clone(),
            addr: stack.gateway_addr.clone().expect("a gateway runs"),
            _stack: stack,
            dist: config.dist.clone(),
            product_id,
            _dir: dir,
        }
    }
}

/// Three gateways in a ring, in this process, on one MariaDB database and one Redis stock
/// store (each with its own in-process queue and worker), one product on sale.
pub struct Ring {
    _stacks: Vec<Stack>,
    /// Each node's member name, which is also its address.
    pub nodes: Vec<String>,
    /// Each node's Prometheus metrics address.
    pub metrics: Vec<String>,
    /// The site nginx serves (the first node's render).
    pub dist: PathBuf,
    pub product_id: i64,
    prefix: String,
    _database: flashsale_testkit::TestDatabase,
    _dir: tempfile::TempDir,
}

impl Ring {
    pub async fn start(stock: i64) -> Ring {
        flashsale_testkit::require("Redis", "127.0.0.1:6379");
        let database = flashsale_testkit::mysql_database();
        let prefix = format!("{}:", flashsale_testkit::unique_name("nginx-ring"));
        let dir = tempfile::tempdir().expect("tempdir");
        set_mode(dir.path(), 0o755);
        // Bound here and handed to the nodes: each names the others before any starts.
        let (listeners, nodes): (Vec<_>, Vec<String>) = (0..3)
            .map(|_| flashsale_testkit::loopback_listener())
            .unzip();
        let (metrics_listeners, metrics): (Vec<_>, Vec<String>) = (0..3)
            .map(|_| flashsale_testkit::loopback_listener())
            .unzip();
        let cookie_secret = flashsale_core::config::random_secret();
        let cluster_secret = flashsale_core::config::random_secret();
        let db = Db::connect(&database.url).await.expect("connect");
        db.migrate().await.expect("migrate");
        let product_id = db
            .insert_product(&NewProduct {
                name: "Phone".into(),
                stock,
                price_cents: 19_900,
                image: "/static/img/phone.svg".into(),
                description: "a phone sold by a ring behind nginx".into(),
                sale_start: None,
                sale_end: None,
                queue: false,
                admit_per_second: 100,
            })
            .await
            .expect("insert product");
        db.close().await;
        let mut stacks = Vec::new();
        let handed = listeners.into_iter().zip(metrics_listeners);
        for (i, (node, (listener, metrics_listener))) in nodes.iter().zip(handed).enumerate() {
            let config = Config {
                database_url: database.url.clone(),
                stock_url: "redis://127.0.0.1:6379/".into(),
                stock_prefix: prefix.clone(),
                dist: dir.path().join(format!("dist{i}")),
                data_dir: dir.path().join(format!("data{i}")),
                gateway_listen: node.clone(),
                ring_nodes: nodes.clone(),
                cluster_secret: Some(cluster_secret.clone()),
                cookie_secret: Some(cookie_secret.clone()),
                gateway_threads: 1,
                // nginx in front names the client; the tests register dozens of shoppers
                // from this one machine.
                trusted_proxies: vec!["127.0.0.1".into()],
                register_per_address: 1_000,
                ..Config::default()
            };
            let provided = Provided {
                gateway: Some(listener),
                metrics: Some(metrics_listener),
                ..Provided::default()
            };
            let stack = Stack::start_provided(&config, Parts::ALL, provided)
                .await
                .expect("a ring node starts");
            stacks.push(stack);
        }
        Ring {
            _stacks: stacks,
            dist: dir.path().join("dist0"),
            nodes,
            metrics,
            product_id,
            prefix,
            _database: database,
            _dir: dir,
        }
    }

    /// Stops every node (their database pools closed), before the database is dropped: an
    /// open transaction of a worker would make DROP DATABASE wait.
    pub async fn stop(mut self) {
        for stack in self._stacks.drain(..) {
            stack.shutdown().await.expect("a ring node stops");
        }
    }

    /// The sum over the ring of the counter `name` (a line `name value` of the metrics).
    pub async fn counter(&self, name: &str) -> u64 {
        let mut total = 0;
        for addr in &self.metrics {
            let text = reqwest::get(format!("http://{addr}/metrics"))
                .await
                .expect("metrics")
                .text()
                .await
                .expect("metrics text");
            total += text
                .lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
                .unwrap_or_else(|| panic!("no {name} in the metrics:\n{text}"));
        }
        total
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        flashsale_testkit::delete_redis_keys(&self.prefix);
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Debian's nginx running `deploy/nginx.conf`, as a child process with its own pid file, logs
/// and port; stopped when dropped.
pub struct Nginx {
    pub url: String,
    child: Child,
    conf: PathBuf,
    dir: tempfile::TempDir,
}

pub const NGINX: &str = "/usr/sbin/nginx";

impl Nginx {
    /// nginx serving `dist` and proxying the dynamic paths to `gateways` (`host:port` each).
    pub async fn start(dist: &Path, gateways: &[String]) -> Nginx {
        require_tool(NGINX, "nginx");
        require_tool(
            "/usr/lib/nginx/modules/ngx_http_brotli_static_module.so",
            "libnginx-mod-http-brotli-static",
        );
        let dir = tempfile::tempdir().expect("tempdir");
        // nginx binds what its config names: a port free now (racy, but nginx cannot be
        // handed a listener).
        let port = free_port();
        let local = LocalNginx {
            dir: dir.path().to_path_buf(),
            listen: format!("127.0.0.1:{port}"),
            root: dist.to_path_buf(),
            gateways: gateways.to_vec(),
        };
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, local.rewrite(&read_repo_file("deploy/nginx.conf")))
            .expect("write nginx.conf");

        let check = nginx_command(dir.path(), &conf)
            .arg("-t")
            .output()
            .expect("run nginx -t");
        assert!(
            check.status.success(),
            "nginx -t refused deploy/nginx.conf:\n{}",
            String::from_utf8_lossy(&check.stderr)
        );

        let child = nginx_command(dir.path(), &conf)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let mut nginx = Nginx {
            url: format!("http://{}", local.listen),
            child,
            conf,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(&local.listen).await.is_err() {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                panic!("nginx exited ({status}):\n{}", nginx.error_log());
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not listen within 10 s:\n{}",
                nginx.error_log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        nginx
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let mut stop = nginx_command(self.dir.path(), &self.conf);
        stop.args(["-s", "stop"]);
        flashsale_testkit::stop_gracefully(&mut stop, &mut self.child);
    }
}

fn nginx_command(prefix: &Path, conf: &Path) -> Command {
    let mut command = Command::new(NGINX);
    command
        .arg("-p")
        .arg(prefix)
        .arg("-c")
        .arg(conf)
        // Before the config is read, nginx logs here instead of /var/log/nginx.
        .arg("-e")
        .arg(prefix.join("error.log"));
    command
}
