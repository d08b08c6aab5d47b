//! The drain loop.
//!
//! Each batch: claim its orders in the stock store (an order the gateway withdrew, because it
//! answered 503, is dropped), record the rest in one transaction, then acknowledge. A crash
//! anywhere redelivers the batch: claims are idempotent, and the database's unique keys make
//! the second recording a no-op.
//!
//! When a batch fails: if the database or the stock store is down, the batch goes back and the
//! worker backs off until they return (nothing is dead-lettered for an outage). If the
//! database answers, something in the batch is at fault: its orders are recorded one by one,
//! and one that still fails after `max_attempts` goes to the dead-letter queue with the
//! reason. An order that is not valid at all goes there at once.

use flashsale_core::db::{DbError, Recorded};
use flashsale_core::domain::{is_order_id, OrderMessage};
use flashsale_core::queue::{Batch, OrderConsumer, QueueError};
use flashsale_core::stock::{Claim, StockError, StockStore};
use flashsale_core::Db;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct DrainOptions {
    /// Orders per transaction.
    pub batch: usize,
    /// How long to wait for a batch to fill before checking for a stop.
    pub wait: Duration,
    /// Longest pause between retries while the database is failing.
    pub max_backoff: Duration,
    /// Tries of an order that fails on its own before it is dead-lettered.
    pub max_attempts: u32,
}

impl Default for DrainOptions {
    fn default() -> Self {
        DrainOptions {
            batch: 1000,
            wait: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            max_attempts: 3,
        }
    }
}

/// Running totals, shared so a status page or a test can read them while the worker runs.
#[derive(Debug, Default)]
pub struct DrainStats {
    pub confirmed: AtomicU64,
    pub failed: AtomicU64,
    pub duplicates: AtomicU64,
    /// Orders dropped because the gateway withdrew them.
    pub withdrawn: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub batches: AtomicU64,
    /// Batches given back because the database or the stock store could not be reached.
    pub outages: AtomicU64,
    /// The same, with latency and retries, for Prometheus.
    pub metrics: crate::metrics::WorkerMetrics,
}

impl DrainStats {
    pub fn confirmed(&self) -> u64 {
        self.confirmed.load(Ordering::Relaxed)
    }
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }
    pub fn withdrawn(&self) -> u64 {
        self.withdrawn.load(Ordering::Relaxed)
    }
    pub fn dead_lettered(&self) -> u64 {
        self.dead_lettered.load(Ordering::Relaxed)
    }
    pub fn outages(&self) -> u64 {
        self.outages.load(Ordering::Relaxed)
    }
}

/// Why a batch was not recorded.
enum Failure {
    /// The stock store or the database is unreachable: not the orders' fault.
    Outage(String),
    /// The database answered with an error: maybe one of the orders is at fault.
    Rejected(String),
}

struct Drainer<'a> {
    db: &'a Db,
    stock: &'a dyn StockStore,
    consumer: &'a mut dyn OrderConsumer,
    options: &'a DrainOptions,
    stats: &'a DrainStats,
    /// Failed tries per order id, for orders failing on their own.
    attempts: HashMap<String, u32>,
}

/// A batch taken from the queue, and its claim (made while the previous batch was recorded).
struct Taken {
    batch: Batch,
    /// The orders to record (those the gateway did not withdraw), or why the claim failed.
    claimed: Result<Vec<OrderMessage>, StockError>,
}

/// Drains `consumer` into `db` until the queue is closed and empty, or `stop` turns true
/// (then the batch in flight is finished first).
///
/// Pipelined: while one batch is recorded, the previous one (committed) is acknowledged and
/// the next one (if already delivered) is taken and claimed, so the database's transaction,
/// the queue's acknowledgements and deliveries and the stock store's claim overlap instead of
/// taking turns. A batch is acknowledged only once its transaction has committed.
pub async fn drain(
    db: &Db,
    stock: &dyn StockStore,
    consumer: &mut dyn OrderConsumer,
    options: &DrainOptions,
    stats: &Arc<DrainStats>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), QueueError> {
    let mut drainer = Drainer {
        db,
        stock,
        consumer,
        options,
        stats,
        attempts: HashMap::new(),
    };
    let mut backoff = Duration::from_millis(50);
    let mut next: Option<Taken> = None;
    // Recorded and committed, its acknowledgement not sent yet: it goes out while the next
    // batch is recorded, or before the loop waits or settles anything else.
    let mut committed: Option<Batch> = None;
    loop {
        if *stop.borrow() {
            drainer.ack_committed(&mut committed).await;
            if let Some(taken) = next.take() {
                // Taken ahead, not started: back to the queue for the next worker.
                drainer.give_back(taken.batch).await;
            }
            tracing::info!("worker stopping on request");
            return Ok(());
        }
        let Taken { batch, claimed } = match next.take() {
            Some(taken) => taken,
            None => {
                // Nothing taken ahead: acknowledge now rather than after the wait for more.
                drainer.ack_committed(&mut committed).await;
                match drainer
                    .consumer
                    .next_batch(options.batch, options.wait)
                    .await
                {
                    Ok(batch) if batch.orders.is_empty() => continue,
                    Ok(batch) => {
                        let claimed = claim(stock, &batch.orders).await;
                        Taken { batch, claimed }
                    }
                    Err(QueueError::Closed) => {
                        tracing::info!("order queue closed and drained; worker done");
                        return Ok(());
                    }
                    Err(e) => {
                        // The broker is unreachable: what we had not acknowledged comes back to
                        // us or another worker. Keep trying until it returns.
                        tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "cannot take orders from the queue");
                        pause(&mut stop, backoff).await;
                        backoff = (backoff * 2).min(options.max_backoff);
                        continue;
                    }
                }
            }
        };
        let span = tracing::debug_span!("batch", orders = batch.orders.len());
        let _enter = span.enter();
        if batch.orders.iter().any(|o| invalid(o).is_some()) {
            drainer.ack_committed(&mut committed).await;
            drainer.one_by_one(batch).await;
            continue;
        }
        let recorded = match claimed {
            Err(e) => {
                // Nothing is recorded now: the committed batch need not wait.
                drainer.ack_committed(&mut committed).await;
                Err(Failure::Outage(error_chain(&e)))
            }
            Ok(keep) => {
                let recording = record_claimed(db, stats, &batch.orders, &keep);
                // The previous batch committed before this one began: its acknowledgement
                // goes out now, before the next batch is taken (so a queue that settles by
                // order id never sees them cross). The next batch only if it is already
                // here: waiting for one would hold this batch's acknowledgement back.
                let taking = async {
                    drainer.ack_committed(&mut committed).await;
                    if *stop.borrow() {
                        return None;
                    }
                    match drainer
                        .consumer
                        .next_batch(options.batch, Duration::ZERO)
                        .await
                    {
                        Ok(batch) if !batch.orders.is_empty() => {
                            let claimed = claim(stock, &batch.orders).await;
                            Some(Taken { batch, claimed })
                        }
                        // Nothing yet, or the queue failed: the loop takes (and reports) it.
                        _ => None,
                    }
                };
                let (recorded, taken) = tokio::join!(recording, taking);
                next = taken;
                recorded
            }
        };
        match recorded {
            Ok(()) => {
                let orders = batch.orders.len();
                // Committed: acknowledged while the next batch is recorded (or sooner).
                committed = Some(batch);
                backoff = Duration::from_millis(50);
                if *stop.borrow() {
                    tracing::info!(
                        orders,
                        "finished the batch in flight after the stop request"
                    );
                }
            }
            Err(Failure::Rejected(error)) if db.ping().await => {
                tracing::warn!(%error, "the database refused a batch; recording its orders one by one");
                drainer.one_by_one(batch).await;
            }
            Err(Failure::Rejected(error) | Failure::Outage(error)) => {
                tracing::warn!(
                    %error,
                    retry_in_ms = backoff.as_millis() as u64,
                    "could not record a batch of orders; it stays on the queue"
                );
                drainer.give_back(batch).await;
                stats.outages.fetch_add(1, Ordering::Relaxed);
                pause(&mut stop, backoff).await;
                backoff = (backoff * 2).min(options.max_backoff);
            }
        }
    }
}

impl Drainer<'_> {
    /// Claims and records `orders` in one transaction, counting what happened.
    async fn record(&mut self, orders: &[OrderMessage]) -> Result<(), Failure> {
        let keep = claim(self.stock, orders)
            .await
            .map_err(|e| Failure::Outage(error_chain(&e)))?;
        record_claimed(self.db, self.stats, orders, &keep).await
    }

    /// Settles each order of `batch` on its own: the failing one is found, retried, and
    /// dead-lettered after `max_attempts`; the others are recorded.
    async fn one_by_one(&mut self, batch: Batch) {
        for single in self.consumer.split(batch) {
            let Some(order) = single.orders.first().cloned() else {
                continue;
            };
            if let Some(why) = invalid(&order) {
                self.dead_letter(single, why.to_string()).await;
                continue;
            }
            match self.record(&single.orders).await {
                Ok(()) => {
                    self.attempts.remove(&order.order_id);
                    self.ack(single).await;
                }
                Err(Failure::Outage(_)) => self.give_back(single).await,
                Err(Failure::Rejected(error)) => {
                    let tries = self.attempts.entry(order.order_id.clone()).or_insert(0);
                    *tries += 1;
                    if *tries >= self.options.max_attempts {
                        let tries = *tries;
                        self.attempts.remove(&order.order_id);
                        let reason =
                            format!("could not be recorded after {tries} attempts: {error}");
                        self.dead_letter(single, reason).await;
                    } else {
                        self.give_back(single).await;
                    }
                }
            }
        }
    }

    /// Acknowledges the committed batch, if one waits.
    async fn ack_committed(&mut self, committed: &mut Option<Batch>) {
        if let Some(batch) = committed.take() {
            self.ack(batch).await;
        }
    }

    async fn ack(&mut self, batch: Batch) {
        if let Err(e) = self.consumer.ack(batch).await {
            // Committed but not acknowledged: the batch will be delivered again and recorded
            // as duplicates, which changes nothing.
            tracing::warn!(error = %e, "could not acknowledge a committed batch; it will be redelivered");
        }
    }

    async fn give_back(&mut self, batch: Batch) {
        self.stats.metrics.retried.inc_by(batch.orders.len() as u64);
        if let Err(e) = self.consumer.retry(batch).await {
            tracing::warn!(error = %e, "could not give a batch back; the broker redelivers it");
        }
    }

    async fn dead_letter(&mut self, batch: Batch, reason: String) {
        let orders = batch.orders.len() as u64;
        match self.consumer.dead_letter(batch, &reason).await {
            Ok(()) => {
                self.stats
                    .dead_lettered
                    .fetch_add(orders, Ordering::Relaxed);
                self.stats.metrics.dead_lettered.inc_by(orders);
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not dead-letter an order; it will come back")
            }
        }
    }
}

/// Records the claimed orders `keep` of `orders` in one transaction, counting what happened.
async fn record_claimed(
    db: &Db,
    stats: &DrainStats,
    orders: &[OrderMessage],
    keep: &[OrderMessage],
) -> Result<(), Failure> {
    let started = std::time::Instant::now();
    let outcomes = db.record_orders(keep).await.map_err(|e| match e {
        DbError::Busy(_) => Failure::Outage(error_chain(&e)),
        _ => Failure::Rejected(error_chain(&e)),
    })?;
    count(stats, &outcomes);
    let withdrawn = (orders.len() - keep.len()) as u64;
    stats.withdrawn.fetch_add(withdrawn, Ordering::Relaxed);
    stats.batches.fetch_add(1, Ordering::Relaxed);
    let metrics = &stats.metrics;
    metrics
        .batch_seconds
        .observe(started.elapsed().as_secs_f64());
    metrics
        .orders
        .with_label_values(&["withdrawn"])
        .inc_by(withdrawn);
    Ok(())
}

/// Why an order can never be recorded, if so.
fn invalid(order: &OrderMessage) -> Option<&'static str> {
    if !is_order_id(&order.order_id) {
        Some("invalid order id")
    } else if order.user_id <= 0 {
        Some("invalid user id")
    } else if order.product_id <= 0 {
        Some("invalid product id")
    } else {
        None
    }
}

/// Sleeps for `backoff`, waking early for a stop request.
async fn pause(stop: &mut watch::Receiver<bool>, backoff: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(backoff) => {}
        _ = stop.changed() => {}
    }
}

/// The orders of `batch` to record: those the gateway did not withdraw. One store call per
/// product in the batch (a sale usually has one).
async fn claim(
    stock: &dyn StockStore,
    batch: &[OrderMessage],
) -> Result<Vec<OrderMessage>, StockError> {
    let mut by_product: BTreeMap<i64, Vec<&OrderMessage>> = BTreeMap::new();
    for order in batch {
        by_product.entry(order.product_id).or_default().push(order);
    }
    let mut keep = Vec::with_capacity(batch.len());
    for (product_id, orders) in by_product {
        let pairs: Vec<(i64, &str)> = orders
            .iter()
            .map(|o| (o.user_id, o.order_id.as_str()))
            .collect();
        let claims = stock.claim(product_id, &pairs).await?;
        for (order, claim) in orders.into_iter().zip(claims) {
            match claim {
                Claim::Record => keep.push(order.clone()),
                Claim::Withdrawn => {
                    tracing::info!(order_id = %order.order_id, "dropping an order the gateway withdrew")
                }
            }
        }
    }
    Ok(keep)
}

fn count(stats: &DrainStats, outcomes: &[Recorded]) {
    for outcome in outcomes {
        let (counter, result) = match outcome {
            Recorded::Confirmed => (&stats.confirmed, "confirmed"),
            Recorded::Failed => {
                tracing::warn!("an accepted order found no unit in the database; marked failed");
                (&stats.failed, "failed")
            }
            Recorded::Duplicate => {
                // Already recorded: the broker delivered it again.
                stats.metrics.redelivered.inc();
                (&stats.duplicates, "duplicate")
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
        stats.metrics.orders.with_label_values(&[result]).inc();
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashsale_core::domain::{new_order_id, NewProduct, OrderStatus};
    use flashsale_core::queue::{MemoryQueue, OrderQueue};
    use flashsale_core::stock::MemoryStock;

    async fn sqlite_with_product(dir: &tempfile::TempDir, stock: i64) -> (Db, i64) {
        let db = Db::connect(&format!("sqlite://{}/w.db", dir.path().display()))
            .await
            .expect("connect");
        db.migrate().await.expect("migrate");
        let pid = db
            .insert_product(&NewProduct::on_sale_now("p", stock, 1))
            .await
            .expect("insert");
        (db, pid)
    }

    fn order(user_id: i64, product_id: i64) -> OrderMessage {
        OrderMessage {
            order_id: new_order_id(),
            user_id,
            product_id,
            accepted_at: 0,
        }
    }

    async fn drain_all(db: &Db, queue: &MemoryQueue) -> Arc<DrainStats> {
        drain_all_with(db, &MemoryStock::new(), queue).await
    }

    async fn drain_all_with(db: &Db, stock: &MemoryStock, queue: &MemoryQueue) -> Arc<DrainStats> {
        queue.close();
        let stats = Arc::new(DrainStats::default());
        let (_stop_tx, stop) = watch::channel(false);
        let options = DrainOptions {
            batch: 100,
            ..DrainOptions::default()
        };
        drain(db, stock, &mut queue.consumer(), &options, &stats, stop)
            .await
            .expect("drain");
        stats
    }

    async fn buyers(db: &Db, pid: i64) -> Vec<i64> {
        let mut buyers: Vec<i64> = db
            .orders_of_product(pid)
            .await
            .expect("orders")
            .iter()
            .map(|o| o.user_id)
            .collect();
        buyers.sort();
        buyers
    }

    #[tokio::test]
    async fn drains_everything_once_then_stops_when_closed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (db, pid) = sqlite_with_product(&dir, 500).await;
        let queue = MemoryQueue::new();
        let mut orders = Vec::new();
        for user in 1..=450 {
            let o = order(user, pid);
            queue.publish(&o).await.expect("publish");
            orders.push(o);
        }
        // Redelivered duplicates must not count twice.
        queue.publish(&orders[0]).await.expect("publish");
        queue.publish(&orders[1]).await.expect("publish");
        let stats = drain_all(&db, &queue).await;
        assert_eq!(stats.confirmed(), 450);
        assert_eq!(stats.duplicates(), 2);
        assert_eq!((stats.failed(), stats.withdrawn()), (0, 0));
        assert_eq!(db.orders_of_product(pid).await.expect("orders").len(), 450);
        assert_eq!(
            db.get_product(pid)
                .await
                .expect("get")
                .expect("exists")
                .stock,
            50
        );
    }

    #[tokio::test]
    async fn invalid_orders_go_to_the_dead_letters_and_the_rest_is_recorded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (db, pid) = sqlite_with_product(&dir, 10).await;
        let queue = MemoryQueue::new();
        let bad_id = OrderMessage {
            order_id: "'; DROP TABLE orders; --".into(),
            ..order(1, pid)
        };
        for o in [order(2, pid), bad_id, order(-3, pid), order(4, pid)] {
            queue.publish(&o).await.expect("publish");
        }
        let stats = drain_all(&db, &queue).await;
        assert_eq!(stats.confirmed(), 2);
        assert_eq!(stats.dead_lettered(), 2);
        let dead = queue.dead_letters();
        let reasons: Vec<&str> = dead.iter().map(|(_, why)| why.as_str()).collect();
        assert_eq!(reasons, ["invalid order id", "invalid user id"]);
        assert_eq!(buyers(&db, pid).await, [2, 4]);
    }

    #[tokio::test]
    async fn orders_beyond_the_database_stock_are_counted_failed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (db, pid) = sqlite_with_product(&dir, 1).await;
        let queue = MemoryQueue::new();
        for user in 1..=3 {
            queue.publish(&order(user, pid)).await.expect("publish");
        }
        let stats = drain_all(&db, &queue).await;
        assert_eq!((stats.confirmed(), stats.failed()), (1, 2));
        let mut statuses: Vec<OrderStatus> = db
            .orders_of_product(pid)
            .await
            .expect("orders")
            .iter()
            .map(|o| o.status)
            .collect();
        statuses.sort_by_key(|s| *s == OrderStatus::Failed);
        assert_eq!(
            statuses,
            [
                OrderStatus::Confirmed,
                OrderStatus::Failed,
                OrderStatus::Failed
            ]
        );
    }

    #[tokio::test]
    async fn orders_the_gateway_withdrew_are_dropped_and_counted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (db, pid) = sqlite_with_product(&dir, 10).await;
        let stock = MemoryStock::new();
        stock.load(pid, 10, &[]).await.expect("load");
        let queue = MemoryQueue::new();
        for user in 1..=3 {
            let o = order(user, pid);
            stock
                .reserve(pid, user, &o.order_id)
                .await
                .expect("reserve");
            // Shoppers 2 and 3 were answered 503: their publish "failed" after the broker
            // took the message.
            if user > 1 {
                stock
                    .release(pid, user, &o.order_id)
                    .await
                    .expect("release");
            }
            queue.publish(&o).await.expect("publish");
        }
        let stats = drain_all_with(&db, &stock, &queue).await;
        assert_eq!((stats.confirmed(), stats.withdrawn()), (1, 2));
        assert_eq!(buyers(&db, pid).await, [1]);
    }

    /// Waits up to 30 s for `done`, checking every 10 ms.
    async fn wait_for(what: &str, done: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "timed out: {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn an_order_the_database_keeps_refusing_is_dead_lettered_with_the_reason() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (db, pid) = sqlite_with_product(&dir, 10).await;
        // The database answers, and refuses one shopper's order every time.
        let raw = sqlx::SqlitePool::connect(&format!("sqlite://{}/w.db", dir.path().display()))
            .await
            .expect("raw connection");
        sqlx::query(
            "CREATE TRIGGER refuse_666 BEFORE INSERT ON orders WHEN NEW.user_id = 666 \
             BEGIN SELECT RAISE(ABORT, 'shopper 666 is refused'); END",
        )
        .execute(&raw)
        .await
        .expect("trigger");
        raw.close().await;
        let queue = MemoryQueue::new();
        for user in [1, 666, 2] {
            queue.publish(&order(user, pid)).await.expect("publish");
        }
        let stats = Arc::new(DrainStats::default());
        let (stop_tx, stop) = watch::channel(false);
        let options = DrainOptions {
            batch: 100,
            wait: Duration::from_millis(20),
            ..DrainOptions::default()
        };
        let stock = MemoryStock::new();
        let mut consumer = queue.consumer();
        let worker = drain(&db, &stock, &mut consumer, &options, &stats, stop);
        let watcher = async {
            wait_for("the refused order is dead-lettered", || {
                !queue.dead_letters().is_empty()
            })
            .await;
            stop_tx.send(true).expect("the worker listens");
        };
        let (result, ()) = tokio::join!(worker, watcher);
        result.expect("drain");
        let dead = queue.dead_letters();
        assert_eq!(dead.len(), 1, "{dead:?}");
        assert_eq!(dead[0].0.user_id, 666);
        let why = &dead[0].1;
        assert!(
            why.contains("after 3 attempts") && why.contains("shopper 666 is refused"),
            "{why}"
        );
        assert_eq!(stats.dead_lettered(), 1);
        assert_eq!(stats.outages(), 0, "the database was up all along");
        assert_eq!(buyers(&db, pid).await, [1, 2]);
    }

    #[tokio::test]
    async fn while_the_database_is_down_nothing_is_lost_and_the_pauses_double() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (db, pid) = sqlite_with_product(&dir, 10).await;
        let queue = MemoryQueue::new();
        for user in 1..=3 {
            queue.publish(&order(user, pid)).await.expect("publish");
        }
        db.close().await;
        // Virtual time from here: the pauses are counted, not waited for.
        tokio::time::pause();
        let stats = Arc::new(DrainStats::default());
        let (stop_tx, stop) = watch::channel(false);
        let options = DrainOptions {
            batch: 100,
            max_backoff: Duration::from_secs(5),
            ..DrainOptions::default()
        };
        let stock = MemoryStock::new();
        let mut consumer = queue.consumer();
        let worker = drain(&db, &stock, &mut consumer, &options, &stats, stop);
        let watcher = async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            let tries = stats.outages();
            stop_tx.send(true).expect("the worker listens");
            tries
        };
        let (result, tries) = tokio::join!(worker, watcher);
        result.expect("drain");
        // Pauses of 50, 100, 200, ... 3200 ms, then 5 s: 8 tries in 10 s, not hundreds.
        assert!((6..=10).contains(&tries), "{tries} tries in 10 s");
        assert!(
            queue.dead_letters().is_empty(),
            "an outage dead-lettered orders"
        );
        assert_eq!(queue.len(), 3, "the batch went back to the queue");
    }

    /// A memory queue's consumer that, at each acknowledgement, looks in the database (from
    /// another connection, so only committed rows are seen) for every order of the batch.
    struct AckAfterCommit {
        inner: flashsale_core::queue::MemoryConsumer,
        db: Db,
        acked: Arc<AtomicU64>,
        /// Orders acknowledged before the database held them.
        early: Arc<AtomicU64>,
        takes: usize,
        /// Asks the worker to stop at this take (counted from 1).
        stop_at_take: Option<(usize, watch::Sender<bool>)>,
    }

    impl AckAfterCommit {
        fn new(queue: &MemoryQueue, db: &Db) -> Self {
            AckAfterCommit {
                inner: queue.consumer(),
                db: db.clone(),
                acked: Arc::default(),
                early: Arc::default(),
                takes: 0,
                stop_at_take: None,
            }
        }
    }

    #[async_trait::async_trait]
    impl OrderConsumer for AckAfterCommit {
        async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<Batch, QueueError> {
            self.takes += 1;
            if let Some((_, stop)) = self
                .stop_at_take
                .as_ref()
                .filter(|(at, _)| *at == self.takes)
            {
                stop.send(true).expect("stop");
            }
            self.inner.next_batch(max, wait).await
        }

        async fn ack(&mut self, batch: Batch) -> Result<(), QueueError> {
            for order in &batch.orders {
                let found = self.db.find_order(&order.order_id).await.expect("find");
                if found.is_none() {
                    self.early.fetch_add(1, Ordering::Relaxed);
                }
            }
            self.acked
                .fetch_add(batch.orders.len() as u64, Ordering::Relaxed);
            self.inner.ack(batch).await
        }

        async fn retry(&mut self, batch: Batch) -> Result<(), QueueError> {
            self.inner.retry(batch).await
        }

        fn split(&mut self, batch: Batch) -> Vec<Batch> {
            self.inner.split(batch)
        }

        async fn dead_letter(&mut self, batch: Batch, reason: &str) -> Result<(), QueueError> {
            self.inner.dead_letter(batch, reason).await
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_batch_is_acknowledged_and_never_before_its_orders_are_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (db, pid) = sqlite_with_product(&dir, 2_000).await;
        let queue = MemoryQueue::new();
        for user in 1..=2_000 {
            queue.publish(&order(user, pid)).await.expect("publish");
        }
        queue.close();
        let mut consumer = AckAfterCommit::new(&queue, &db);
        let stats = Arc::new(DrainStats::default());
        let (_stop_tx, stop) = watch::channel(false);
        let options = DrainOptions {
            batch: 50,
            ..DrainOptions::default()
        };
        drain(
            &db,
            &MemoryStock::new(),
            &mut consumer,
            &options,
            &stats,
            stop,
        )
        .await
        .expect("drain");
        assert_eq!(stats.confirmed(), 2_000);
        assert_eq!(
            consumer.early.load(Ordering::Relaxed),
            0,
            "acknowledged before commit"
        );
        // The last batch's acknowledgement is not left behind when the queue runs dry.
        assert_eq!(consumer.acked.load(Ordering::Relaxed), 2_000);
    }

    #[tokio::test]
    async fn a_stop_during_a_batch_still_acknowledges_it_once_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (db, pid) = sqlite_with_product(&dir, 10).await;
        let queue = MemoryQueue::new();
        for user in 1..=10 {
            queue.publish(&order(user, pid)).await.expect("publish");
        }
        let mut consumer = AckAfterCommit::new(&queue, &db);
        let (stop_tx, stop) = watch::channel(false);
        // The second take is the look for more while the first batch is recorded: the stop
        // comes before that batch has committed.
        consumer.stop_at_take = Some((2, stop_tx));
        let stats = Arc::new(DrainStats::default());
        drain(
            &db,
            &MemoryStock::new(),
            &mut consumer,
            &DrainOptions::default(),
            &stats,
            stop,
        )
        .await
        .expect("drain");
        assert_eq!(stats.confirmed(), 10, "the batch in flight is finished");
        assert_eq!(
            consumer.early.load(Ordering::Relaxed),
            0,
            "acknowledged before commit"
        );
        assert_eq!(consumer.acked.load(Ordering::Relaxed), 10);
    }

    /// A broker that cannot be reached: every take fails.
    struct Unreachable {
        takes: Arc<AtomicU64>,
    }

    #[async_trait::async_trait]
    impl OrderConsumer for Unreachable {
        async fn next_batch(&mut self, _max: usize, _wait: Duration) -> Result<Batch, QueueError> {
            self.takes.fetch_add(1, Ordering::Relaxed);
            Err(QueueError::Unavailable("connection refused".into()))
        }

        async fn ack(&mut self, _batch: Batch) -> Result<(), QueueError> {
            unreachable!("nothing was taken")
        }

        async fn retry(&mut self, _batch: Batch) -> Result<(), QueueError> {
            unreachable!("nothing was taken")
        }

        fn split(&mut self, batch: Batch) -> Vec<Batch> {
            vec![batch]
        }

        async fn dead_letter(&mut self, _batch: Batch, _reason: &str) -> Result<(), QueueError> {
            unreachable!("nothing was taken")
        }
    }

    #[tokio::test]
    async fn while_the_broker_is_unreachable_the_tries_slow_down() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (db, _pid) = sqlite_with_product(&dir, 10).await;
        tokio::time::pause();
        let takes = Arc::new(AtomicU64::new(0));
        let mut consumer = Unreachable {
            takes: takes.clone(),
        };
        let stats = Arc::new(DrainStats::default());
        let (stop_tx, stop) = watch::channel(false);
        let options = DrainOptions {
            max_backoff: Duration::from_secs(5),
            ..DrainOptions::default()
        };
        let stock = MemoryStock::new();
        let worker = drain(&db, &stock, &mut consumer, &options, &stats, stop);
        let watcher = async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            stop_tx.send(true).expect("the worker listens");
        };
        let (result, ()) = tokio::join!(worker, watcher);
        result.expect("a stop ends the worker cleanly");
        // Pauses of 50, 100, 200, ... 3200 ms, then 5 s: 8 tries in 10 s, not hundreds.
        let takes = takes.load(Ordering::Relaxed);
        assert!((6..=10).contains(&takes), "{takes} tries in 10 s");
    }

    #[tokio::test]
    async fn waits_that_bring_nothing_are_not_counted_as_batches() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (db, pid) = sqlite_with_product(&dir, 10).await;
        let queue = MemoryQueue::new();
        for user in 1..=3 {
            queue.publish(&order(user, pid)).await.expect("publish");
        }
        let stats = Arc::new(DrainStats::default());
        let (stop_tx, stop) = watch::channel(false);
        let options = DrainOptions {
            wait: Duration::from_millis(10),
            ..DrainOptions::default()
        };
        let stock = MemoryStock::new();
        let mut consumer = queue.consumer();
        let worker = drain(&db, &stock, &mut consumer, &options, &stats, stop);
        let watcher = async {
            // Dozens of empty 10 ms waits after the one batch.
            wait_for("the three orders", || stats.confirmed() == 3).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            stop_tx.send(true).expect("the worker listens");
        };
        let (result, ()) = tokio::join!(worker, watcher);
        result.expect("drain");
        assert_eq!(stats.batches.load(Ordering::Relaxed), 1);
        assert_eq!(stats.confirmed(), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_database_locked_by_another_writer_is_an_outage_not_a_fault_of_the_orders() {
        use sqlx::Connection;
        let dir = tempfile::tempdir().expect("tempdir");
        let (db, pid) = sqlite_with_product(&dir, 10).await;
        let queue = MemoryQueue::new();
        for user in 1..=3 {
            queue.publish(&order(user, pid)).await.expect("publish");
        }
        // Another writer holds SQLite's write lock past the busy timeout (5 s).
        let url = format!("sqlite://{}/w.db", dir.path().display());
        let mut other = sqlx::AnyConnection::connect(&url).await.expect("connect");
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut other)
            .await
            .expect("take the write lock");
        let stats = Arc::new(DrainStats::default());
        let (stop_tx, stop) = watch::channel(false);
        let stock = MemoryStock::new();
        let mut consumer = queue.consumer();
        let options = DrainOptions::default();
        let worker = drain(&db, &stock, &mut consumer, &options, &stats, stop);
        let writer = async {
            wait_for("the worker to find the database busy", || {
                stats.outages() > 0
            })
            .await;
            sqlx::query("COMMIT")
                .execute(&mut other)
                .await
                .expect("release the write lock");
            wait_for("the three orders", || stats.confirmed() == 3).await;
            stop_tx.send(true).expect("the worker listens");
        };
        let (result, ()) = tokio::join!(worker, writer);
        result.expect("drain");
        assert_eq!((stats.failed(), stats.duplicates()), (0, 0));
        assert!(
            queue.dead_letters().is_empty(),
            "a busy database dead-lettered orders"
        );
        assert_eq!(buyers(&db, pid).await, [1, 2, 3]);
    }
}
