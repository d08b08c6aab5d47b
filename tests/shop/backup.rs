//! `flashsale backup FILE` on a live shop under purchases: the copy opens, is whole, and its
//! books add up at the moment it was taken. Also: the database and its folder are private.

use crate::util::{cookie_for, flashsale_command, product, UpProcess};
use flashsale_core::Db;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const STOCK: i64 = 100_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_of_a_live_shop_is_a_consistent_copy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = flashsale_core::config::random_secret();
    let env = vec![("FLASHSALE_COOKIE_SECRET", secret.clone())];
    let db_url = format!("sqlite://{}/data/flashsale.db", dir.path().display());
    let pid = {
        let db = Db::connect(&db_url).await.expect("connect");
        db.migrate().await.expect("migrate");
        let pid = db
            .insert_product(&product("Item", STOCK))
            .await
            .expect("product");
        db.close().await;
        pid
    };
    let mut shop = UpProcess::start(dir.path(), &env);

    // Shoppers keep buying while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::new();
    let buyers: Vec<_> = (0..8i64)
        .map(|b| {
            let (stop, accepted, client) = (stop.clone(), accepted.clone(), client.clone());
            let (url, secret) = (shop.url.clone(), secret.clone());
            tokio::spawn(async move {
                let mut uid = 1 + b * 1_000_000;
                while !stop.load(Ordering::Relaxed) {
                    let r = client
                        .post(format!("{url}/getOne?productID={pid}"))
                        .header("Cookie", cookie_for(&secret, uid))
                        .send()
                        .await
                        .expect("buy");
                    if r.status() == 202 {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    uid += 1;
                }
            })
        })
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while accepted.load(Ordering::Relaxed) < 200 {
        assert!(tokio::time::Instant::now() < deadline, "too few purchases");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let copy = dir.path().join("copy.db");
    let (ok, out) = flashsale_command(dir.path(), &["backup", "copy.db"], &env);
    assert!(ok, "{out}");
    let during = accepted.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    for b in buyers {
        b.await.expect("buyer");
    }
    assert!(
        accepted.load(Ordering::Relaxed) > during,
        "purchases went on during and after the backup"
    );
    // A second backup to the same file is refused, not overwritten.
    let (ok, out) = flashsale_command(dir.path(), &["backup", "copy.db"], &env);
    assert!(!ok && out.contains("exists"), "{out}");

    // The copy opens on its own, is whole, and its books add up: every unit sold is an order
    // recorded or one still in the outbox.
    assert_eq!(
        std::fs::metadata(&copy).expect("copy").permissions().mode() & 0o777,
        0o600,
        "the copy is private"
    );
    let backup = Db::connect(&format!("sqlite://{}", copy.display()))
        .await
        .expect("open the copy");
    let books = backup
        .stock_books(pid)
        .await
        .expect("books")
        .expect("the product is in the copy");
    let recorded = backup.orders_of_product(pid).await.expect("orders").len() as i64;
    eprintln!(
        "backup: {recorded} orders recorded, {} in the outbox, {} units left (of {STOCK})",
        books.pending, books.stock
    );
    assert!(
        recorded + books.pending > 0,
        "the copy has the shop's orders"
    );
    assert_eq!(books.stock + recorded, STOCK, "stock adds up in the copy");
    assert_eq!(books.holders.len() as i64, recorded + books.pending);
    backup.close().await;

    // The live database and its folder are readable by their owner only.
    let data = dir.path().join("data");
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "data/");
    assert_eq!(mode(&data.join("flashsale.db")), 0o600, "the database");
    assert_eq!(mode(&data.join("flashsale.db-wal")), 0o600, "its WAL");
    shop.stop();
}

/// On MySQL/MariaDB, `flashsale backup` names the tools to use instead of pretending.
#[test]
fn backup_of_a_mysql_database_points_to_the_usual_tools() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = vec![(
        "FLASHSALE_DATABASE_URL",
        "mysql://root@127.0.0.1:3306/flashsale".to_string(),
    )];
    let (ok, out) = flashsale_command(dir.path(), &["backup", "copy.sql"], &env);
    assert!(!ok, "{out}");
    assert!(
        out.contains("mariadb-dump") && out.contains("mariabackup"),
        "{out}"
    );
    assert!(!dir.path().join("copy.sql").exists());
}
