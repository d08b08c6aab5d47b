//! Workers competing for one queue, as the README lets operators run them ("as many as you
//! like"): three `flashsale worker` processes drain one RabbitMQ queue in parallel while a
//! storm comes in, one of them is SIGKILLed again and again, and MariaDB is cut off under
//! them in the middle. Every 202 must end in the database once, the stock must be exact, and
//! the audit must add up. Then the same with two gateways publishing.

use crate::util::{RealShop, AMQP};
use flashsale::stack::{Parts, Stack};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const GATEWAY_ONLY: Parts = Parts {
    gateway: true,
    worker: false,
};

/// What a worker logs when its batch cannot be committed and goes back to the queue.
const GAVE_BACK: &str = "could not record a batch of orders; it stays on the queue";

/// Three worker processes, each logging warnings to a file of its own (a new file per start).
struct Workers {
    children: Vec<Child>,
    logs: tempfile::TempDir,
    starts: usize,
}

impl Workers {
    fn start(shop: &RealShop, n: usize) -> Workers {
        let mut workers = Workers {
            children: Vec::new(),
            logs: tempfile::tempdir().expect("tempdir"),
            starts: 0,
        };
        for _ in 0..n {
            let child = workers.spawn(shop);
            workers.children.push(child);
        }
        workers
    }

    fn spawn(&mut self, shop: &RealShop) -> Child {
        self.starts += 1;
        let log = self.logs.path().join(format!("worker-{}.log", self.starts));
        Command::new(env!("CARGO_BIN_EXE_flashsale"))
            .arg("worker")
            .envs(shop.env())
            // A small window each, so the three share the queue rather than one taking it all.
            .env("FLASHSALE_WORKER_PREFETCH", "100")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("log file"))
            .spawn()
            .expect("start a worker process")
    }

    /// SIGKILLs worker `i` (whatever it holds goes back to the queue) and starts a new one.
    fn kill_and_replace(&mut self, shop: &RealShop, i: usize) {
        self.children[i].kill().expect("SIGKILL");
        self.children[i].wait().expect("reap");
        self.children[i] = self.spawn(shop);
    }

    /// How many times any worker gave a batch back so far.
    fn gave_back(&self) -> usize {
        log_lines(self.logs.path(), GAVE_BACK)
    }

    fn stop(self) {
        drop(self);
    }
}

impl Drop for Workers {
    /// Also when the test failed: a worker left running would keep retrying a deleted queue.
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn log_lines(dir: &Path, needle: &str) -> usize {
    std::fs::read_dir(dir)
        .expect("logs")
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .map(|text| text.lines().filter(|l| l.contains(needle)).count())
        .sum()
}

/// Waits for `condition`, failing with `what` after `within`.
async fn wait_until<F: std::future::Future<Output = bool>>(
    what: &str,
    within: Duration,
    mut condition: impl FnMut() -> F,
) {
    let deadline = Instant::now() + within;
    while !condition().await {
        assert!(Instant::now() < deadline, "{what} (waited {within:?})");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn consumers(shop: &RealShop) -> u32 {
    let amqp = format!("amqp://guest:guest@{AMQP}/%2f");
    flashsale_core::queue::queue_depth(&amqp, &shop.config.queue_name)
        .await
        .map(|d| d.consumers)
        .unwrap_or(0)
}

/// A second gateway in this process, on the same services (and the same proxies).
async fn second_gateway(shop: &RealShop) -> (Stack, PathBuf) {
    let mut config = shop.config.clone();
    config.gateway_listen = "127.0.0.1:0".into();
    config.dist = shop.config.dist.with_file_name("dist-2");
    let stack = Stack::start_parts(&config, GATEWAY_ONLY)
        .await
        .expect("the second gateway starts");
    (stack, config.dist)
}

async fn storm_with_competing_workers(gateways: usize) {
    let _turn = crate::util::storm_turn().await;
    const STOCK: i64 = 1_500;
    let mut shop = RealShop::start(STOCK, GATEWAY_ONLY).await;
    let mut urls = vec![shop.url()];
    let second = if gateways == 2 {
        let (stack, _) = second_gateway(&shop).await;
        urls.push(stack.gateway_url.clone());
        Some(stack)
    } else {
        None
    };
    let mut workers = Workers::start(&shop, 3);
    let mut accepted = HashSet::new();
    let s = &shop;
    wait_until(
        "three workers on the queue",
        Duration::from_secs(30),
        || async move { consumers(s).await == 3 },
    )
    .await;

    // 1. A storm while worker 0 is killed each time the shop has recorded 50 more orders.
    let killing = async {
        for _ in 0..2 {
            let before = s.recorded().await;
            wait_until(
                "the workers record",
                Duration::from_secs(30),
                || async move { s.recorded().await >= before + 50 },
            )
            .await;
            workers.kill_and_replace(s, 0);
        }
    };
    let ((ok, _), ()) = tokio::join!(s.buy_all_via(&urls, 1..=600), killing);
    accepted.extend(ok);

    // 2. MariaDB cut while orders keep coming: the workers take batches they cannot commit
    // and give them back; worker 0 is killed holding what it took.
    shop.proxies.mysql.cut();
    let recorded_at_cut = shop.recorded().await;
    let gave_back = workers.gave_back();
    let (ok, _) = shop.buy_all_via(&urls, 601..=1_200).await;
    assert!(
        !ok.is_empty(),
        "Buy needs no database, yet nothing was accepted"
    );
    accepted.extend(ok);
    let w = &workers;
    wait_until(
        "a worker tried to commit during the cut",
        Duration::from_secs(30),
        || async move { w.gave_back() > gave_back },
    )
    .await;
    workers.children[0].kill().expect("SIGKILL");
    workers.children[0].wait().expect("reap");
    assert_eq!(
        shop.recorded().await,
        recorded_at_cut,
        "recorded during the cut"
    );
    shop.proxies.mysql.restore();
    workers.children[0] = workers.spawn(&shop);

    // 3. The rest of the storm, one more kill.
    let killing = async {
        let before = s.recorded().await;
        wait_until(
            "the workers record again",
            Duration::from_secs(30),
            || async move { s.recorded().await >= before + 50 },
        )
        .await;
        workers.kill_and_replace(s, 0);
    };
    let ((ok, _), ()) = tokio::join!(s.buy_all_via(&urls, 1_201..=1_800), killing);
    accepted.extend(ok);
    // 503s are honest answers on a loaded machine; enough must be accepted to prove anything.
    assert!(accepted.len() >= 500, "only {} accepted", accepted.len());

    // Every 202 is recorded exactly once.
    let orders = shop
        .wait_for_orders(&accepted, Duration::from_secs(60))
        .await;
    let buyers: Vec<i64> = orders.iter().map(|o| o.user_id).collect();
    let unique: HashSet<i64> = buyers.iter().copied().collect();
    assert_eq!(unique.len(), buyers.len(), "a shopper has two orders");
    let lost: Vec<&i64> = accepted.difference(&unique).take(10).collect();
    let extra: Vec<&i64> = unique.difference(&accepted).take(10).collect();
    assert!(
        lost.is_empty() && extra.is_empty(),
        "orders in the database differ from the 202s: {} of {} accepted are missing (e.g. {lost:?}), \
         {} recorded without a 202 (e.g. {extra:?})",
        accepted.difference(&unique).count(),
        accepted.len(),
        unique.difference(&accepted).count()
    );
    let product = shop
        .db
        .get_product(shop.product_id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(product.stock, STOCK - accepted.len() as i64);
    eprintln!(
        "{} accepted through {gateways} gateway(s); {} worker starts; {} batches given back",
        accepted.len(),
        workers.starts,
        workers.gave_back()
    );

    // The books add up once the workers have taken what is left on the queue (a batch
    // committed by a worker killed before its ack comes back once more, as duplicates).
    if let Some(second) = second {
        second.shutdown().await.expect("second gateway stops");
    }
    shop.stop().await;
    shop.wait_for_consistent_audit(Duration::from_secs(30))
        .await;
    workers.stop();
    shop.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_workers_one_killed_again_and_again_and_a_database_cut_record_every_202_once() {
    storm_with_competing_workers(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_with_two_gateways_publishing() {
    storm_with_competing_workers(2).await;
}
