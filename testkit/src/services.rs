//! The machine's shared services, and per-test resources on them.

use std::time::Duration;

pub const MYSQL_ADDR: &str = "127.0.0.1:3306";
pub const REDIS_ADDR: &str = "127.0.0.1:6379";
pub const AMQP_ADDR: &str = "127.0.0.1:5672";

/// Panics with a clear message if `addr` does not accept connections: a test that needs a
/// service fails loudly rather than passing without it.
pub fn require(name: &str, addr: &str) {
    let reachable = addr
        .parse()
        .ok()
        .and_then(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(3)).ok())
        .is_some();
    assert!(
        reachable,
        "{name} is not reachable on {addr}: start it (`bash .ci/run` starts every service the tests need)"
    );
}

/// A name no other test uses: `{prefix}_{random hex}`.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{:016x}", rand::random::<u64>())
}

/// A fresh, empty MySQL database, dropped when this value is dropped.
pub struct TestDatabase {
    pub name: String,
    /// `mysql://root@127.0.0.1:3306/{name}`.
    pub url: String,
}

impl TestDatabase {
    /// The same database reached through another address (a [`crate::TcpProxy`]).
    pub fn url_via(&self, host_port: &str) -> String {
        format!("mysql://root@{host_port}/{}", self.name)
    }
}

/// Creates a fresh database on the shared MariaDB (root, empty password).
pub fn mysql_database() -> TestDatabase {
    require("MariaDB", MYSQL_ADDR);
    let name = unique_name("fs_test");
    mariadb(&format!("CREATE DATABASE {name}"));
    TestDatabase {
        url: format!("mysql://root@{MYSQL_ADDR}/{name}"),
        name,
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        mariadb(&format!("DROP DATABASE IF EXISTS {}", self.name));
    }
}

fn mariadb(sql: &str) {
    // The client binary keeps this synchronous, so it also works from Drop.
    let status = std::process::Command::new("mariadb")
        .args(["-h", "127.0.0.1", "-P", "3306", "-u", "root", "-e", sql])
        .status()
        .expect("the mariadb client is installed");
    assert!(status.success(), "mariadb failed to run: {sql}");
}

/// Deletes every Redis key under `prefix` (test and benchmark cleanup).
pub fn delete_redis_keys(prefix: &str) {
    let keys = std::process::Command::new("redis-cli")
        .args([
            "-h",
            "127.0.0.1",
            "--scan",
            "--pattern",
            &format!("{prefix}*"),
        ])
        .output()
        .expect("the redis-cli client is installed");
    let keys: Vec<String> = String::from_utf8_lossy(&keys.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    for chunk in keys.chunks(500) {
        let _ = std::process::Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "DEL"])
            .args(chunk)
            .output();
    }
}

/// A listener on a free loopback port, and its `host:port`: bound now, so the port is this
/// test's until the server it is handed to closes it.
pub fn loopback_listener() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    let addr = listener
        .local_addr()
        .expect("a bound listener's address")
        .to_string();
    (listener, addr)
}

/// A loopback port free right now. Racy (another process may take it before it is used):
/// only for what must name its port before it starts and cannot be handed a listener (nginx,
/// a ring of `flashsale` processes), or for an address nothing listens on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
