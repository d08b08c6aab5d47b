//! The database layer on SQLite and on MariaDB: schema, shoppers, and idempotent order
//! recording. Every test runs against both.

use flashsale_core::db::{DbError, Recorded};
use flashsale_core::domain::{new_order_id, NewProduct, OrderMessage, OrderStatus};
use flashsale_core::Db;

/// A fresh database of each kind; the guards keep the files and the MySQL database alive.
struct Fresh {
    dbs: Vec<(&'static str, Db)>,
    _dir: tempfile::TempDir,
    _mysql: flashsale_testkit::TestDatabase,
}

async fn fresh_dbs() -> Fresh {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = Db::connect(&format!("sqlite://{}/nested/shop.db", dir.path().display()))
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

fn product(stock: i64) -> NewProduct {
    NewProduct {
        name: "Robert'); DROP TABLE products;--".into(),
        stock,
        price_cents: 999,
        image: "/static/img/phone.svg".into(),
        description: "a \"quoted\" description".into(),
        sale_start: None,
        sale_end: Some(2_000_000_000),
        queue: false,
        admit_per_second: 100,
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

#[tokio::test]
async fn migrating_twice_is_harmless_and_products_round_trip() {
    let fresh = fresh_dbs().await;
    for (_kind, db) in &fresh.dbs {
        db.migrate().await.expect("second migrate");
        let id = db.insert_product(&product(3)).await.expect("insert");
        let got = db.get_product(id).await.expect("get").expect("exists");
        assert_eq!(got.name, "Robert'); DROP TABLE products;--");
        assert_eq!(got.sale_end, Some(2_000_000_000));
        assert_eq!(got.sale_start, None);
        assert_eq!(db.list_products().await.expect("list").len(), 1);
        assert!(!got.queue);
        assert_eq!(got.admit_per_second, 100);
        let queued = NewProduct {
            queue: true,
            admit_per_second: 0,
            ..product(3)
        };
        assert!(db.update_product(id, &queued).await.expect("update"));
        let got = db.get_product(id).await.expect("get").expect("exists");
        assert!(got.queue, "{_kind}: the waiting room is kept");
        assert_eq!(got.admit_per_second, 0, "{_kind}: a paused line is kept");
    }
}

#[tokio::test]
async fn user_names_are_unique() {
    let fresh = fresh_dbs().await;
    for (_kind, db) in &fresh.dbs {
        let id = db.create_user("Ann", "ann", "hash").await.expect("create");
        assert!(matches!(
            db.create_user("Ann 2", "ann", "hash").await,
            Err(DbError::UserNameTaken)
        ));
        let ann = db
            .find_user_by_name("ann")
            .await
            .expect("find")
            .expect("exists");
        assert_eq!(ann.id, id);
        assert!(db
            .find_user_by_name("' OR 1=1 --")
            .await
            .expect("find")
            .is_none());
    }
}

#[tokio::test]
async fn recording_is_idempotent_and_never_oversells() {
    let fresh = fresh_dbs().await;
    for (kind, db) in &fresh.dbs {
        eprintln!("{kind}");
        let pid = db.insert_product(&product(2)).await.expect("insert");
        let first = order(1, pid);
        let batch = vec![first.clone(), order(2, pid), order(3, pid)];
        assert_eq!(
            db.record_orders(&batch).await.expect("record"),
            [Recorded::Confirmed, Recorded::Confirmed, Recorded::Failed]
        );
        // The same messages again (a redelivery), and a second order of shopper 1.
        let again = db.record_orders(&batch).await.expect("record again");
        assert!(again.iter().all(|r| *r == Recorded::Duplicate), "{again:?}");
        assert_eq!(
            db.record_orders(&[order(1, pid)]).await.expect("record"),
            [Recorded::Duplicate]
        );
        let stored = db.get_product(pid).await.expect("get").expect("exists");
        assert_eq!(stored.stock, 0);
        let orders = db.orders_of_product(pid).await.expect("orders");
        assert_eq!(orders.len(), 3);
        let found = db
            .find_order(&first.order_id)
            .await
            .expect("find")
            .expect("exists");
        assert_eq!(found.status, OrderStatus::Confirmed);
        assert_eq!(
            orders
                .iter()
                .filter(|o| o.status == OrderStatus::Failed)
                .count(),
            1
        );
        let mut holders: Vec<i64> = db
            .order_holders(pid)
            .await
            .expect("holders")
            .into_iter()
            .map(|h| h.user_id)
            .collect();
        holders.sort();
        assert_eq!(holders, [1, 2, 3]);
        assert_eq!(
            db.order_counts(pid).await.expect("counts"),
            (2, 1),
            "{kind}: confirmed and failed orders"
        );
    }
}

/// A shopper who already has the product orders it again under a new order id, in a batch
/// beside another shopper's order: theirs is a duplicate and takes no unit.
#[tokio::test]
async fn a_second_order_of_one_shopper_takes_no_unit() {
    let fresh = fresh_dbs().await;
    for (kind, db) in &fresh.dbs {
        let pid = db.insert_product(&product(5)).await.expect("insert");
        assert_eq!(
            db.record_orders(&[order(1, pid)]).await.expect("record"),
            [Recorded::Confirmed],
            "{kind}"
        );
        assert_eq!(
            db.record_orders(&[order(1, pid), order(2, pid)])
                .await
                .expect("record"),
            [Recorded::Duplicate, Recorded::Confirmed],
            "{kind}"
        );
        let stored = db.get_product(pid).await.expect("get").expect("exists");
        assert_eq!(stored.stock, 3, "{kind}");
        assert_eq!(
            db.orders_of_product(pid).await.expect("orders").len(),
            2,
            "{kind}"
        );
    }
}

#[tokio::test]
async fn a_large_mixed_batch_is_recorded_once_with_stock_taken_per_product() {
    let fresh = fresh_dbs().await;
    for (kind, db) in &fresh.dbs {
        let a = db.insert_product(&product(300)).await.expect("insert");
        let b = db.insert_product(&product(300)).await.expect("insert");
        let mut batch: Vec<OrderMessage> = (1..=150).map(|u| order(u, a)).collect();
        batch.extend((1..=50).map(|u| order(u, b)));
        // The same message twice in one batch (a redelivery landing beside the original).
        batch.push(batch[0].clone());
        let outcomes = db.record_orders(&batch).await.expect("record");
        assert_eq!(outcomes.len(), 201, "{kind}");
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| **o == Recorded::Confirmed)
                .count(),
            200,
            "{kind}"
        );
        assert_eq!(outcomes[200], Recorded::Duplicate, "{kind}");
        let stock = |id| async move {
            db.get_product(id)
                .await
                .expect("get")
                .expect("exists")
                .stock
        };
        assert_eq!((stock(a).await, stock(b).await), (150, 250), "{kind}");
        // All of it again: nothing changes.
        let again = db.record_orders(&batch).await.expect("record again");
        assert!(again.iter().all(|o| *o == Recorded::Duplicate), "{kind}");
        assert_eq!((stock(a).await, stock(b).await), (150, 250), "{kind}");
        assert_eq!(
            db.orders_of_product(a).await.expect("orders").len(),
            150,
            "{kind}"
        );
    }
}

#[tokio::test]
async fn products_can_be_edited_and_deleted() {
    let fresh = fresh_dbs().await;
    for (kind, db) in &fresh.dbs {
        let id = db.insert_product(&product(3)).await.expect("insert");
        let edited = NewProduct {
            name: "<b>Renamed</b>".into(),
            stock: 7,
            price_cents: 1_250,
            image: "/static/img/watch.svg".into(),
            description: "new words".into(),
            sale_start: Some(1_900_000_000),
            sale_end: None,
            queue: false,
            admit_per_second: 100,
        };
        assert!(
            db.update_product(id, &edited).await.expect("update"),
            "{kind}"
        );
        let got = db.get_product(id).await.expect("get").expect("exists");
        assert_eq!(
            (
                got.name.as_str(),
                got.stock,
                got.price_cents,
                got.sale_start,
                got.sale_end
            ),
            ("<b>Renamed</b>", 7, 1_250, Some(1_900_000_000), None),
            "{kind}"
        );
        // The same values again still count as found (MySQL reports matched, not changed, rows).
        assert!(
            db.update_product(id, &edited).await.expect("update"),
            "{kind}"
        );
        assert!(
            !db.update_product(id + 100, &edited).await.expect("update"),
            "{kind}"
        );

        assert!(db.delete_product(id).await.expect("delete"), "{kind}");
        assert!(db.get_product(id).await.expect("get").is_none(), "{kind}");
        assert!(
            !db.delete_product(id).await.expect("delete again"),
            "{kind}"
        );
    }
}

#[tokio::test]
async fn orders_are_listed_newest_first_with_names_paged_and_filtered() {
    use flashsale_core::db::OrderFilter;
    let fresh = fresh_dbs().await;
    for (kind, db) in &fresh.dbs {
        let phone = db
            .insert_product(&NewProduct {
                name: "Pocket Phone".into(),
                ..product(10)
            })
            .await
            .expect("insert");
        let watch = db
            .insert_product(&NewProduct {
                name: "100%_Watch".into(),
                ..product(10)
            })
            .await
            .expect("insert");
        let ann = db.create_user("Annie", "ann", "hash").await.expect("ann");
        let bob = db.create_user("Bobby", "Bob", "hash").await.expect("bob");
        let at = |user_id, product_id, accepted_at| OrderMessage {
            order_id: new_order_id(),
            user_id,
            product_id,
            accepted_at,
        };
        // Minute 0 holds two orders, minute 2 one; one shopper is gone (user 999).
        let orders = [
            at(ann, phone, 1_000),
            at(bob, phone, 2_000),
            at(ann, watch, 121_000),
            at(999, watch, 122_000),
        ];
        db.record_orders(&orders).await.expect("record");

        let all = OrderFilter::default();
        assert_eq!(db.count_orders(&all).await.expect("count"), 4, "{kind}");
        let page = db.list_orders(&all, 3, 0).await.expect("page 1");
        let times: Vec<i64> = page.iter().map(|o| o.created_at).collect();
        assert_eq!(times, [122_000, 121_000, 2_000], "{kind}");
        assert_eq!(page[0].user_name, None, "{kind}: a shopper who is gone");
        assert_eq!(page[1].user_name.as_deref(), Some("ann"), "{kind}");
        assert_eq!(page[1].nick_name.as_deref(), Some("Annie"), "{kind}");
        assert_eq!(
            page[1].product_name.as_deref(),
            Some("100%_Watch"),
            "{kind}"
        );
        let rest = db.list_orders(&all, 3, 3).await.expect("page 2");
        assert_eq!(rest.len(), 1, "{kind}");
        assert_eq!(rest[0].order_id, orders[0].order_id, "{kind}");

        // By shopper: user or nick name, any case; by product: name or id.
        let by = |shopper: &str, product: &str| OrderFilter {
            shopper: Some(shopper.into()).filter(|s: &String| !s.is_empty()),
            product: Some(product.into()).filter(|s: &String| !s.is_empty()),
        };
        assert_eq!(
            db.count_orders(&by("BOB", "")).await.expect("count"),
            1,
            "{kind}"
        );
        assert_eq!(
            db.count_orders(&by("anni", "")).await.expect("count"),
            2,
            "{kind}"
        );
        assert_eq!(
            db.count_orders(&by("ann", "phone")).await.expect("count"),
            1,
            "{kind}"
        );
        assert_eq!(
            db.count_orders(&by("", &watch.to_string()))
                .await
                .expect("count"),
            2,
            "{kind}"
        );
        // LIKE's wildcards are taken literally, and quotes are only text.
        assert_eq!(
            db.count_orders(&by("", "100%_")).await.expect("count"),
            2,
            "{kind}"
        );
        assert_eq!(
            db.count_orders(&by("", "pocket_phone"))
                .await
                .expect("count"),
            0,
            "{kind}"
        );
        assert_eq!(
            db.count_orders(&by("' OR 1=1 --", ""))
                .await
                .expect("count"),
            0,
            "{kind}"
        );
        let filtered = db
            .list_orders(&by("ann", "watch"), 10, 0)
            .await
            .expect("filtered");
        assert_eq!(filtered.len(), 1, "{kind}");
        assert_eq!(filtered[0].order_id, orders[2].order_id, "{kind}");

        // The dashboard's numbers.
        let stats = db.order_stats(100_000).await.expect("stats");
        assert_eq!(stats.len(), 2, "{kind}");
        assert_eq!(
            (stats[0].product_id, stats[0].confirmed, stats[0].recent),
            (phone, 2, 0),
            "{kind}"
        );
        assert_eq!(
            (stats[1].product_id, stats[1].confirmed, stats[1].recent),
            (watch, 2, 2),
            "{kind}"
        );
        assert_eq!(
            db.orders_per_minute(0).await.expect("per minute"),
            [(0, 2), (120_000, 2)],
            "{kind}"
        );
        assert_eq!(
            db.orders_per_minute(60_000).await.expect("per minute"),
            [(120_000, 2)],
            "{kind}"
        );
    }
}

/// `batch_a` and `batch_b` recorded at the same moment by two workers, each in its own
/// transaction on its own connection. A deadlock or a lock timeout fails a batch, and the
/// worker gets it again: so does this.
async fn record_in_parallel(
    (a, batch_a): (&Db, Vec<OrderMessage>),
    (b, batch_b): (&Db, Vec<OrderMessage>),
) -> (Vec<Recorded>, Vec<Recorded>) {
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let record = |db: &Db, batch: Vec<OrderMessage>| {
        let (db, start) = (db.clone(), start.clone());
        tokio::spawn(async move {
            start.wait().await;
            let mut tries = 0;
            loop {
                tries += 1;
                match db.record_orders(&batch).await {
                    Ok(outcomes) => return outcomes,
                    Err(e) if tries < 5 => eprintln!("try {tries}: {e}"),
                    Err(e) => panic!("{e}"),
                }
            }
        })
    };
    let (ta, tb) = (record(a, batch_a), record(b, batch_b));
    (ta.await.expect("worker a"), tb.await.expect("worker b"))
}

fn tally(outcomes: &[Recorded]) -> (usize, usize, usize) {
    let n = |what| outcomes.iter().filter(|r| **r == what).count();
    (
        n(Recorded::Confirmed),
        n(Recorded::Failed),
        n(Recorded::Duplicate),
    )
}

/// Checks the database's side of a product after a race: `confirmed` orders took the stock,
/// the rest failed, one order per shopper.
async fn assert_books(db: &Db, pid: i64, stock_left: i64, shoppers: usize, confirmed: usize) {
    let stored = db.get_product(pid).await.expect("get").expect("exists");
    assert_eq!(stored.stock, stock_left, "oversold or undersold");
    let orders = db.orders_of_product(pid).await.expect("orders");
    let mut per_shopper = std::collections::HashMap::<i64, usize>::new();
    for o in &orders {
        *per_shopper.entry(o.user_id).or_default() += 1;
    }
    assert_eq!(per_shopper.len(), shoppers, "{orders:?}");
    assert!(
        per_shopper.values().all(|n| *n == 1),
        "a shopper recorded twice: {per_shopper:?}"
    );
    let recorded = orders
        .iter()
        .filter(|o| o.status == OrderStatus::Confirmed)
        .count();
    assert_eq!(recorded, confirmed, "{orders:?}");
}

/// Two workers recording at once on MariaDB, competing for the last units, round after round:
/// - disjoint batches of 4 for 5 units: the stock guard, under truly concurrent transactions,
///   lets exactly 5 through, and either worker is sometimes the one that gets its 4;
/// - a message redelivered to both workers, and one shopper with an order in each batch: the
///   unique keys record each once, whichever worker gets there first (both do, over the rounds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_batches_on_two_connections_never_oversell_or_record_twice() {
    use std::collections::HashMap;
    const ROUNDS: i64 = 30;
    const STOCK: i64 = 5;
    let database = flashsale_testkit::mysql_database();
    let a = Db::connect(&database.url).await.expect("worker a");
    a.migrate().await.expect("migrate");
    let b = Db::connect(&database.url).await.expect("worker b");
    let mut got_all_four = HashMap::new();
    let mut recorded_shared = HashMap::new();
    for round in 0..ROUNDS {
        let shopper = |n: i64| round * 100 + n;

        // The last units.
        let pid = a.insert_product(&product(STOCK)).await.expect("insert");
        let batch_a = (10..14).map(|n| order(shopper(n), pid)).collect();
        let batch_b = (20..24).map(|n| order(shopper(n), pid)).collect();
        let (ra, rb) = record_in_parallel((&a, batch_a), (&b, batch_b)).await;
        let (ta, tb) = (tally(&ra), tally(&rb));
        assert_eq!(
            ta.0 + tb.0,
            STOCK as usize,
            "round {round}: a {ra:?} b {rb:?}"
        );
        assert_eq!(ta.1 + tb.1, 3, "round {round}: a {ra:?} b {rb:?}");
        assert_books(&a, pid, 0, 8, STOCK as usize).await;
        let winner = if ta.0 == 4 { "a" } else { "b" };
        *got_all_four.entry(winner).or_insert(0) += 1;

        // Shared messages: 9 shoppers in 12 messages, 5 units.
        let pid = a.insert_product(&product(STOCK)).await.expect("insert");
        let (x, y) = (order(shopper(1), pid), order(shopper(2), pid));
        let mut batch_a = vec![x.clone(), y.clone(), order(shopper(9), pid)];
        let mut batch_b = vec![x, y, order(shopper(9), pid)];
        batch_a.extend((10..13).map(|n| order(shopper(n), pid)));
        batch_b.extend((20..23).map(|n| order(shopper(n), pid)));
        let (ra, rb) = record_in_parallel((&a, batch_a), (&b, batch_b)).await;
        let (ta, tb) = (tally(&ra), tally(&rb));
        assert_eq!(
            (ta.0 + tb.0, ta.1 + tb.1, ta.2 + tb.2),
            (STOCK as usize, 4, 3),
            "round {round}: a {ra:?} b {rb:?}"
        );
        assert_books(&a, pid, 0, 9, STOCK as usize).await;
        let winner = if ra[0] == Recorded::Duplicate {
            "b"
        } else {
            "a"
        };
        *recorded_shared.entry(winner).or_insert(0) += 1;
    }
    eprintln!("got all four: {got_all_four:?}; recorded the shared order: {recorded_shared:?}");
    assert_eq!(
        got_all_four.len(),
        2,
        "one worker always won: {got_all_four:?}"
    );
    assert_eq!(
        recorded_shared.len(),
        2,
        "one worker always got there first: {recorded_shared:?}"
    );
    a.close().await;
    b.close().await;
}
