//! The embedded queue (`queue_url = "memory:"`): an outbox table in the shop's database. An
//! order is published only once it is committed; the worker's side takes, acknowledges, gives
//! back and dead-letters; the stock books count outbox orders as held. On SQLite and MariaDB.

use flashsale_core::domain::{new_order_id, NewProduct, OrderMessage};
use flashsale_core::queue::{OrderConsumer, OrderQueue, OutboxQueue, QueueError};
use flashsale_core::Db;
use std::collections::HashSet;
use std::time::Duration;

struct Fresh {
    dbs: Vec<(&'static str, Db)>,
    _dir: tempfile::TempDir,
    _mysql: flashsale_testkit::TestDatabase,
}

async fn fresh_dbs() -> Fresh {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = Db::connect(&format!("sqlite://{}/shop.db", dir.path().display()))
        .await
        .expect("connect sqlite");
    let mysql_db = flashsale_testkit::mysql_database();
    let mysql = Db::connect(&mysql_db.url).await.expect("connect mysql");
    for db in [&sqlite, &mysql] {
        db.migrate().await.expect("migrate");
    }
    Fresh {
        dbs: vec![("sqlite", sqlite), ("mysql", mysql)],
        _dir: dir,
        _mysql: mysql_db,
    }
}

fn order(user_id: i64, product_id: i64) -> OrderMessage {
    OrderMessage {
        order_id: new_order_id(),
        user_id,
        product_id,
        accepted_at: 1,
    }
}

fn product(stock: i64) -> NewProduct {
    NewProduct::on_sale_now("Item", stock, 100)
}

const WAIT: Duration = Duration::from_millis(50);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_published_order_is_in_the_outbox_when_publish_returns() {
    let fresh = fresh_dbs().await;
    for (kind, db) in &fresh.dbs {
        let queue = OutboxQueue::new(db.clone());
        let orders: Vec<OrderMessage> = (1..=300).map(|u| order(u, 1)).collect();
        let published = futures::future::join_all(orders.iter().map(|o| queue.publish(o))).await;
        assert!(published.iter().all(Result::is_ok), "{kind}: {published:?}");
        let counts = queue.counts().await.expect("counts");
        assert_eq!(counts.waiting, 300, "{kind}");
        // The consumer hands each out once, oldest first across batches.
        let mut consumer = queue.consumer();
        let mut seen = HashSet::new();
        loop {
            let batch = consumer.next_batch(120, WAIT).await.expect("batch");
            if batch.orders.is_empty() {
                break;
            }
            assert!(batch.orders.len() <= 120);
            for o in &batch.orders {
                assert!(seen.insert(o.order_id.clone()), "{kind}: handed out twice");
            }
            consumer.ack(batch).await.expect("ack");
        }
        assert_eq!(seen.len(), 300, "{kind}");
        assert_eq!(queue.counts().await.expect("counts").waiting, 0, "{kind}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_commit_fails_the_publish_of_its_whole_group() {
    let fresh = fresh_dbs().await;
    for (kind, db) in &fresh.dbs {
        let queue = OutboxQueue::new(db.clone());
        // The same order twice in one group: the unique key fails the group's transaction.
        let twice = order(1, 1);
        let (a, b) = tokio::join!(queue.publish(&twice), queue.publish(&twice));
        assert!(
            matches!(a, Err(QueueError::Unavailable(_)))
                && matches!(b, Err(QueueError::Unavailable(_))),
            "{kind}: {a:?} {b:?}"
        );
        assert_eq!(
            queue.counts().await.expect("counts").waiting,
            0,
            "{kind}: nothing of the group"
        );
        // The queue goes on with the next orders.
        queue
            .publish(&order(2, 1))
            .await
            .expect("publish after a failure");
        assert_eq!(queue.counts().await.expect("counts").waiting, 1, "{kind}");
    }
}

#[tokio::test]
async fn given_back_orders_come_again_and_dead_letters_stay_out() {
    let fresh = fresh_dbs().await;
    for (kind, db) in &fresh.dbs {
        let queue = OutboxQueue::new(db.clone());
        for u in 1..=3 {
            queue.publish(&order(u, 1)).await.expect("publish");
        }
        let mut consumer = queue.consumer();
        let batch = consumer.next_batch(10, WAIT).await.expect("batch");
        assert_eq!(batch.orders.len(), 3, "{kind}");
        // Handed out and not settled: not handed out again.
        assert!(consumer
            .next_batch(10, WAIT)
            .await
            .expect("batch")
            .orders
            .is_empty());
        let mut singles = consumer.split(batch);
        let poison = singles.pop().expect("one");
        let poison_id = poison.orders[0].order_id.clone();
        consumer
            .dead_letter(poison, "cannot be recorded")
            .await
            .expect("dead letter");
        for single in singles {
            consumer.retry(single).await.expect("retry");
        }
        let again = consumer.next_batch(10, WAIT).await.expect("batch");
        assert_eq!(
            again.orders.len(),
            2,
            "{kind}: given back, without the dead letter"
        );
        consumer.ack(again).await.expect("ack");
        let counts = queue.counts().await.expect("counts");
        assert_eq!((counts.waiting, counts.dead), (0, 1), "{kind}");
        let dead = queue.dead_letters().await.expect("dead letters");
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].0.order_id, poison_id);
        assert_eq!(dead[0].1, "cannot be recorded");
        // Closed: what is left is drained, then the consumer is told.
        queue.publish(&order(9, 1)).await.expect("publish");
        queue.close();
        assert!(
            queue.publish(&order(10, 1)).await.is_err(),
            "publish after close"
        );
        let last = consumer.next_batch(10, WAIT).await.expect("last batch");
        assert_eq!(last.orders.len(), 1);
        consumer.ack(last).await.expect("ack");
        assert!(matches!(
            consumer.next_batch(10, WAIT).await,
            Err(QueueError::Closed)
        ));
    }
}

#[tokio::test]
async fn stock_books_count_outbox_orders_as_held_once() {
    let fresh = fresh_dbs().await;
    for (kind, db) in &fresh.dbs {
        let pid = db.insert_product(&product(10)).await.expect("product");
        let recorded = order(1, pid);
        db.record_orders(std::slice::from_ref(&recorded))
            .await
            .expect("record");
        // In the outbox: one new order, the recorded one again (the worker died between
        // recording and deleting it), and a second order of shopper 1 (a duplicate to be).
        let waiting = order(2, pid);
        db.outbox_put(&[waiting.clone(), recorded.clone(), order(1, pid)])
            .await
            .expect("outbox");
        let books = db.stock_books(pid).await.expect("books").expect("product");
        assert_eq!(books.stock, 9, "{kind}");
        assert_eq!(books.pending, 1, "{kind}: only the new order takes a unit");
        assert_eq!(books.remaining(), 8, "{kind}");
        let mut holders: Vec<(i64, String)> = books
            .holders
            .iter()
            .map(|h| (h.user_id, h.order_id.clone()))
            .collect();
        holders.sort();
        assert_eq!(
            holders,
            vec![
                (1, recorded.order_id.clone()),
                (2, waiting.order_id.clone())
            ],
            "{kind}"
        );
        assert_eq!(
            db.outbox_counts().await.expect("counts").waiting,
            2,
            "{kind}"
        );
        assert!(db.stock_books(pid + 1000).await.expect("books").is_none());
    }
}

#[tokio::test]
async fn recording_takes_the_orders_out_of_the_sqlite_outbox_in_the_same_transaction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::connect(&format!("sqlite://{}/shop.db", dir.path().display()))
        .await
        .expect("connect");
    db.migrate().await.expect("migrate");
    let pid = db.insert_product(&product(10)).await.expect("product");
    let queue = OutboxQueue::new(db.clone());
    let orders = [order(1, pid), order(2, pid)];
    for o in &orders {
        queue.publish(o).await.expect("publish");
    }
    db.record_orders(&orders).await.expect("record");
    // Recorded and no longer waiting, before any acknowledgement.
    let counts = queue.counts().await.expect("counts");
    assert_eq!(counts.waiting, 0);
    let mut consumer = queue.consumer();
    assert!(consumer
        .next_batch(10, WAIT)
        .await
        .expect("batch")
        .orders
        .is_empty());
}
