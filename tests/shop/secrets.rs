//! Secrets and shared config at start: a weak cookie or cluster secret stops the process with
//! an error naming the setting; a config shared by a whole deployment (ring included) starts
//! every command, not only the gateway.

use flashsale_testkit::{delete_redis_keys, unique_name};
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `flashsale ARGS` in `dir` with `env`, the shared environment cleared of FLASHSALE_*.
fn flashsale(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flashsale"));
    command.args(args).current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("FLASHSALE_") {
            command.env_remove(key);
        }
    }
    command
        .env("FLASHSALE_GATEWAY_LISTEN", "127.0.0.1:0")
        .env("FLASHSALE_ADMIN_LISTEN", "127.0.0.1:0")
        .envs(env.iter().copied());
    command
}

/// Runs a command that must refuse to start; its stderr.
fn refused(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut child = flashsale(dir, args, env)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("flashsale {args:?} started with {env:?}; it must refuse");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    assert!(!status.success(), "{args:?} {env:?}: {stderr}");
    stderr
}

/// Regression (issue 14, finding 1): an empty or one-byte cookie secret let anyone forge a
/// login; now the shop does not start, and says which setting and how to make one.
#[test]
fn a_shop_with_an_empty_or_one_byte_cookie_secret_does_not_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    for weak in ["", "x"] {
        let stderr = refused(dir.path(), &["up"], &[("FLASHSALE_COOKIE_SECRET", weak)]);
        assert!(
            stderr.contains("FLASHSALE_COOKIE_SECRET") && stderr.contains("openssl rand -hex 32"),
            "{weak:?}: {stderr}"
        );
    }
    // An empty secret file, as a crash between creating and writing it would leave.
    std::fs::create_dir_all(dir.path().join("data")).expect("data dir");
    std::fs::write(dir.path().join("data/cookie_secret"), "").expect("empty file");
    let stderr = refused(dir.path(), &["up"], &[]);
    assert!(stderr.contains("cookie_secret"), "{stderr}");
}

/// Regression (issue 14, finding 2): a ring with an empty cluster secret started, and a
/// shopper could forge the forwarding marker.
#[test]
fn a_gateway_of_a_ring_with_an_empty_cluster_secret_does_not_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Names only: the ring is checked before anything is bound.
    let me = "10.1.0.1:8080";
    let ring = format!("{me},10.1.0.2:8080");
    let stderr = refused(
        dir.path(),
        &["up"],
        &[
            ("FLASHSALE_GATEWAY_LISTEN", me),
            ("FLASHSALE_RING_NODES", &ring),
            ("FLASHSALE_CLUSTER_SECRET", ""),
        ],
    );
    assert!(stderr.contains("FLASHSALE_CLUSTER_SECRET"), "{stderr}");
}

/// Waits for `line` on a started command's stderr, then stops it with SIGTERM.
fn starts(mut command: Command, line: &str) {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env("RUST_LOG", "info")
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut seen = String::new();
    for l in BufReader::new(stderr).lines() {
        let l = l.expect("read");
        seen.push_str(&l);
        seen.push('\n');
        if l.contains(line) {
            break;
        }
    }
    let running = child.try_wait().expect("wait").is_none();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    assert!(
        running && seen.contains(line),
        "never saw {line:?}:\n{seen}"
    );
}

/// Regression (issue 14, finding 3): with the ring in the shared config, migrate, worker,
/// admin and audit refused to start ("this node ... is not one of ring_nodes").
#[tokio::test]
async fn every_command_starts_with_the_deployments_shared_ring_config() {
    flashsale_testkit::require("Redis", "127.0.0.1:6379");
    flashsale_testkit::require("RabbitMQ", "127.0.0.1:5672");
    let dir = tempfile::tempdir().expect("tempdir");
    let prefix = format!("{}:", unique_name("shared-config"));
    let queue = unique_name("shared-config");
    let secret = flashsale_core::config::random_secret();
    let shared: Vec<(&str, &str)> = vec![
        ("FLASHSALE_DATABASE_URL", "sqlite://shop.db"),
        ("FLASHSALE_STOCK_URL", "redis://127.0.0.1:6379/"),
        ("FLASHSALE_STOCK_PREFIX", &prefix),
        (
            "FLASHSALE_QUEUE_URL",
            "amqp://guest:guest@127.0.0.1:5672/%2f",
        ),
        ("FLASHSALE_QUEUE_NAME", &queue),
        // Members elsewhere; this machine runs none of them.
        ("FLASHSALE_RING_NODES", "10.1.0.1:8080,10.1.0.2:8080"),
        ("FLASHSALE_CLUSTER_SECRET", &secret),
        ("FLASHSALE_COOKIE_SECRET", &secret),
    ];
    let succeeds = |command: &str| {
        let out = flashsale(dir.path(), &[command], &shared)
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    succeeds("migrate");
    // The worker declares the queue that audit then inspects.
    starts(
        flashsale(dir.path(), &["worker"], &shared),
        "worker draining orders",
    );
    starts(
        flashsale(dir.path(), &["admin"], &shared),
        "admin listening",
    );
    succeeds("audit");
    // The gateway is a member, so it checks: this machine is not one of them.
    let stderr = refused(dir.path(), &["gateway"], &shared);
    assert!(stderr.contains("not one of ring_nodes"), "{stderr}");
    delete_redis_keys(&prefix);
    let _ =
        flashsale_core::queue::delete_queues("amqp://guest:guest@127.0.0.1:5672/%2f", &queue).await;
}
