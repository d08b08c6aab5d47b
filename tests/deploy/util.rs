use flashsale::stack::Stack;
use flashsale_core::domain::NewProduct;
use flashsale_core::{Config, Db};
use flashsale_testkit::free_port;
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
        let addr = format!("127.0.0.1:{}", free_port());
        let config = Config {
            database_url: format!("sqlite://{}/shop.db", dir.path().display()),
            dist: dir.path().join("dist"),
            data_dir: dir.path().join("data"),
            gateway_listen: addr.clone(),
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
            })
            .await
            .expect("insert product");
        db.close().await;
        let stack = Stack::start(&config).await.expect("the shop starts");
        Shop {
            url: stack.gateway_url.clone(),
            _stack: stack,
            addr,
            dist: config.dist.clone(),
            product_id,
            _dir: dir,
        }
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
        let port = free_port();
        let local = Local {
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

/// The values of this test run for the lines of `deploy/nginx.conf` marked `# SET:`.
struct Local {
    dir: PathBuf,
    listen: String,
    root: PathBuf,
    gateways: Vec<String>,
}

pub const SET_MARK: &str = "# SET:";

impl Local {
    /// `deploy/nginx.conf` with its `# SET:` lines, and only those, given this run's values.
    fn rewrite(&self, conf: &str) -> String {
        let mut out = String::new();
        let mut upstream_written = false;
        for line in conf.lines() {
            if !line.contains(SET_MARK) || line.trim_start().starts_with('#') {
                out.push_str(line);
                out.push('\n');
                continue;
            }
            let indent = &line[..line.len() - line.trim_start().len()];
            let directive = line.split_whitespace().next().unwrap_or("");
            let file = |name: &str| self.dir.join(name).display().to_string();
            let replaced = match directive {
                // The workers still run as www-data (when the test runs as root).
                "user" => vec![line.trim().to_string()],
                "pid" => vec![format!("pid {};", file("nginx.pid"))],
                "error_log" => vec![format!("error_log {};", file("error.log"))],
                "access_log" => vec![format!("access_log {};", file("access.log"))],
                "listen" => vec![format!("listen {};", self.listen)],
                "root" => vec![format!("root {};", self.root.display())],
                // The upstream's servers become this run's gateways, in one go.
                "server" if upstream_written => vec![],
                "server" => {
                    upstream_written = true;
                    self.gateways
                        .iter()
                        .map(|g| format!("server {g} max_fails=3 fail_timeout=5s;"))
                        .collect()
                }
                other => panic!(
                    "deploy/nginx.conf marks a `{other}` line with {SET_MARK}; teach the \
                     test what to put there"
                ),
            };
            for directive in replaced {
                out.push_str(indent);
                out.push_str(&directive);
                out.push('\n');
            }
        }
        out
    }
}
