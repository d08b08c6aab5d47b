//! One sale on the real services for a benchmark: a fresh database with one product, its
//! stock in Redis under a fresh prefix, and a fresh queue name; `close` removes them all.

use flashsale_core::domain::NewProduct;
use flashsale_core::queue::delete_queues;
use flashsale_core::stock::{RedisStock, StockStore};
use flashsale_core::Db;
use flashsale_testkit::{mysql_database, require, unique_name, TestDatabase};
use std::sync::Arc;

pub(crate) const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

pub(crate) struct Sale {
    pub(crate) db: Db,
    pub(crate) product_id: i64,
    pub(crate) stock: Arc<RedisStock>,
    pub(crate) prefix: String,
    pub(crate) queue: String,
    /// Dropped last: the database goes with it.
    _database: TestDatabase,
}

impl Sale {
    /// A product with `units` in the database and in Redis.
    pub(crate) async fn open(units: i64) -> anyhow::Result<Sale> {
        require("MariaDB", "127.0.0.1:3306");
        require("Redis", "127.0.0.1:6379");
        require("RabbitMQ", "127.0.0.1:5672");
        let (database, db, product_id) = fresh_db(units).await?;
        let prefix = format!("{}:", unique_name("fs_bench"));
        let stock = Arc::new(RedisStock::connect("redis://127.0.0.1:6379/", &prefix).await?);
        stock.load(product_id, units, &[]).await?;
        Ok(Sale {
            db,
            product_id,
            stock,
            prefix,
            queue: unique_name("fs_bench"),
            _database: database,
        })
    }

    pub(crate) async fn close(self) -> anyhow::Result<()> {
        delete_queues(AMQP, &self.queue).await?;
        flashsale_testkit::delete_redis_keys(&self.prefix);
        self.db.close().await;
        Ok(())
    }
}

/// A fresh database holding one product with `units`.
pub(crate) async fn fresh_db(units: i64) -> anyhow::Result<(TestDatabase, Db, i64)> {
    let database = mysql_database();
    let db = Db::connect(&database.url).await?;
    db.migrate().await?;
    let product_id = db
        .insert_product(&NewProduct {
            name: "bench".into(),
            stock: units,
            price_cents: 1,
            image: String::new(),
            description: String::new(),
            sale_start: None,
            sale_end: None,
        })
        .await?;
    Ok((database, db, product_id))
}
