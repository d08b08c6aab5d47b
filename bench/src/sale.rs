//! One sale on the real services for a benchmark: a fresh database with its products, their
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
    /// The products, in the order of the stocks given to `open`.
    pub(crate) products: Vec<i64>,
    pub(crate) stock: Arc<RedisStock>,
    pub(crate) prefix: String,
    pub(crate) queue: String,
    /// Dropped last: the database goes with it.
    database: TestDatabase,
}

impl Sale {
    /// A product for each of `stocks` (its units), in the database and in Redis.
    pub(crate) async fn open(stocks: &[i64]) -> anyhow::Result<Sale> {
        let products: Vec<NewProduct> = stocks.iter().map(|units| product(*units)).collect();
        Sale::open_products(&products).await
    }

    /// `products`, in the database and their stock in Redis.
    pub(crate) async fn open_products(new: &[NewProduct]) -> anyhow::Result<Sale> {
        require("MariaDB", "127.0.0.1:3306");
        require("Redis", "127.0.0.1:6379");
        require("RabbitMQ", "127.0.0.1:5672");
        let database = mysql_database();
        let db = Db::connect(&database.url).await?;
        db.migrate().await?;
        let prefix = format!("{}:", unique_name("fs_bench"));
        let stock = Arc::new(RedisStock::connect("redis://127.0.0.1:6379/", &prefix).await?);
        let mut products = Vec::new();
        for p in new {
            let id = db.insert_product(p).await?;
            stock.load(id, p.stock, &[]).await?;
            products.push(id);
        }
        Ok(Sale {
            db,
            products,
            stock,
            prefix,
            queue: unique_name("fs_bench"),
            database,
        })
    }

    /// Where the database is, for a gateway process of this sale.
    pub(crate) fn database_url(&self) -> &str {
        &self.database.url
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
    let product_id = insert_product(&db, units).await?;
    Ok((database, db, product_id))
}

async fn insert_product(db: &Db, units: i64) -> anyhow::Result<i64> {
    Ok(db.insert_product(&product(units)).await?)
}

/// A plain product with `units`, on sale now.
pub(crate) fn product(units: i64) -> NewProduct {
    NewProduct::on_sale_now("bench", units, 1)
}
