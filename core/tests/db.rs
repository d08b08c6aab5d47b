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
