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
