//! `flashsale audit` run as an operator runs it, on books made inconsistent by hand: one kind
//! of inconsistency per test, each reported with the product and the numbers, and a non-zero
//! exit. A consistent shop built the same way passes, so each failure is the inconsistency's.

use crate::util::{product, AMQP, REDIS};
use flashsale_core::domain::{new_order_id, OrderMessage};
use flashsale_core::queue::{AmqpQueue, OrderQueue};
use flashsale_core::stock::{RedisStock, Reservation, StockStore};
use flashsale_core::Db;
use flashsale_testkit::{mysql_database, require, unique_name, TestDatabase};

/// A database, a stock store and a queue of their own, written to directly.
struct Books {
    db: Db,
    stock: RedisStock,
    queue: AmqpQueue,
    prefix: String,
    queue_name: String,
    product_id: i64,
    database: TestDatabase,
}

impl Books {
    /// A product with `units` in the database; the stock store and the queue are empty.
    async fn new(units: i64) -> Books {
        require("MariaDB", "127.0.0.1:3306");
        require("Redis", REDIS);
        require("RabbitMQ", AMQP);
        let database = mysql_database();
        let db = Db::connect(&database.url).await.expect("connect");
        db.migrate().await.expect("migrate");
        let product_id = db.insert_product(&product(units)).await.expect("product");
        let prefix = format!("{}:", unique_name("fs_audit"));
        let stock = RedisStock::connect(&format!("redis://{REDIS}/"), &prefix)
            .await
            .expect("redis");
        let queue_name = unique_name("fs_audit_orders");
        let queue = AmqpQueue::connect(&amqp_url(), &queue_name)
            .await
            .expect("declare the queue");
        Books {
            db,
            stock,
            queue,
            prefix,
            queue_name,
            product_id,
            database,
        }
    }

    fn order(&self, user_id: i64) -> OrderMessage {
        OrderMessage {
            order_id: new_order_id(),
            user_id,
            product_id: self.product_id,
            accepted_at: 1,
        }
    }

    async fn reserve(&self, order: &OrderMessage) {
        let r = self
            .stock
            .reserve(order.product_id, order.user_id, &order.order_id)
            .await
            .expect("reserve");
        assert_eq!(r, Reservation::Reserved);
    }

    /// What the worker does with an order: claim it, record it.
    async fn record(&self, order: &OrderMessage) {
        self.stock
            .claim(order.product_id, &[(order.user_id, &order.order_id)])
            .await
            .expect("claim");
        self.db
            .record_orders(std::slice::from_ref(order))
            .await
            .expect("record");
    }

    /// `flashsale audit` on these books: whether it passed, and what it printed.
    async fn audit(&self) -> (bool, String) {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_flashsale"))
            .arg("audit")
            .env_remove("FLASHSALE_CONFIG")
            .env("FLASHSALE_DATABASE_URL", &self.database.url)
            .env("FLASHSALE_STOCK_URL", format!("redis://{REDIS}/"))
            .env("FLASHSALE_QUEUE_URL", amqp_url())
            .env("FLASHSALE_STOCK_PREFIX", &self.prefix)
            .env("FLASHSALE_QUEUE_NAME", &self.queue_name)
            .env("RUST_LOG", "warn")
            .output()
            .await
            .expect("run flashsale audit");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }
}

impl Drop for Books {
    fn drop(&mut self) {
        let (prefix, queue) = (self.prefix.clone(), self.queue_name.clone());
        let cleaning = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Runtime::new() {
                runtime.block_on(async {
                    let _ = flashsale_core::queue::delete_queues(&amqp_url(), &queue).await;
                });
            }
            flashsale_testkit::delete_redis_keys(&prefix);
        });
        let _ = cleaning.join();
    }
}

fn amqp_url() -> String {
    format!("amqp://guest:guest@{AMQP}/%2f")
}

/// The row of the audit's table for `product_id`, as its numbers.
fn row(report: &str, product_id: i64) -> Vec<String> {
    report
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&product_id.to_string()))
        .unwrap_or_else(|| panic!("no row for product {product_id}:\n{report}"))
}

#[tokio::test]
async fn consistent_books_pass() {
    let b = Books::new(10).await;
    b.stock.load(b.product_id, 10, &[]).await.expect("load");
    // One order recorded, one still on the queue.
    let (recorded, queued) = (b.order(1), b.order(2));
    b.reserve(&recorded).await;
    b.record(&recorded).await;
    b.reserve(&queued).await;
    b.queue.publish(&queued).await.expect("publish");

    let (passed, report) = b.audit().await;
    assert!(passed, "{report}");
    assert!(report.contains("verdict: consistent"), "{report}");
    // db stock, confirmed, failed, store remaining, reserved, in flight
    assert_eq!(
        row(&report, b.product_id)[1..7],
        ["9", "1", "0", "8", "2", "1"]
    );
}

#[tokio::test]
async fn a_unit_reserved_with_no_order_anywhere_fails_the_audit() {
    let b = Books::new(10).await;
    b.stock.load(b.product_id, 10, &[]).await.expect("load");
    // Reserved, but never published (a gateway that crashed between the two, say).
    b.reserve(&b.order(1)).await;

    let (passed, report) = b.audit().await;
    assert!(!passed, "{report}");
    assert!(report.contains("verdict: NOT consistent"), "{report}");
    let expected = format!(
        "1 reservations are not in the database (product {}: 1), but the queue holds 0 orders",
        b.product_id
    );
    assert!(report.contains(&expected), "{report}");
}

#[tokio::test]
async fn an_order_with_no_reservation_fails_the_audit() {
    let b = Books::new(10).await;
    b.stock.load(b.product_id, 10, &[]).await.expect("load");
    // Recorded in the database, but the stock store never reserved it.
    b.db.record_orders(&[b.order(1)]).await.expect("record");

    let (passed, report) = b.audit().await;
    assert!(!passed, "{report}");
    let expected = format!(
        "product {}: the database has 1 orders but the stock store knows only 0 reservations",
        b.product_id
    );
    assert!(report.contains(&expected), "{report}");
}

#[tokio::test]
async fn stock_off_by_one_fails_the_audit() {
    let b = Books::new(10).await;
    b.stock.load(b.product_id, 9, &[]).await.expect("load");

    let (passed, report) = b.audit().await;
    assert!(!passed, "{report}");
    let expected = format!(
        "product {}: the stock store has 9 units left, but the database has 10 with 0 orders \
         in flight (expected 10)",
        b.product_id
    );
    assert!(report.contains(&expected), "{report}");
}
