//! The database: shoppers, products and orders, on MySQL/MariaDB or SQLite.
//!
//! One implementation over sqlx's `Any` driver: the two dialects differ in a single statement
//! (how to insert-or-ignore), so a [`Dialect`] switch is simpler than two copies of every
//! query. Every query is parameterised.
//!
//! SQLite runs in WAL mode with `synchronous = FULL`: a committed transaction is on disk
//! before the commit returns, so what the shop acknowledged survives a crash and a power cut
//! (the README says what that costs and what it does not cover).

mod admin_sessions;
mod outbox;
mod shopper_orders;

pub use admin_sessions::StoredSession;
pub use outbox::{OutboxCounts, StockBooks};
pub use shopper_orders::{OrderCursor, ShopperOrder};

use crate::domain::{NewProduct, Order, OrderMessage, OrderStatus, Product, User};
use crate::stock::Holder;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("could not connect to the database at {url}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("could not create the database directory {0}")]
    CreateDir(String, #[source] std::io::Error),
    #[error("could not create the database file {0}")]
    CreateFile(String, #[source] std::io::Error),
    #[error("{0} exists already; a backup never overwrites a file")]
    BackupExists(String),
    #[error("only a SQLite database can be backed up this way")]
    BackupUnsupported,
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the user name is already taken")]
    UserNameTaken,
    /// A deadlock or a busy database: nothing was written; trying again is right.
    #[error("the database was busy; try again")]
    Busy(#[source] sqlx::Error),
    #[error("database query failed")]
    Query(#[from] sqlx::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    MySql,
}

/// What recording one order did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Inserted and a unit of stock taken.
    Confirmed,
    /// Inserted, but the database had no unit left for it.
    Failed,
    /// Already there (a redelivery, or the shopper already has this product): nothing changed.
    Duplicate,
}

#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    dialect: Dialect,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static MYSQL_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/mysql");

const PRODUCT_COLUMNS: &str =
    "id, name, stock, price_cents, image, description, sale_start, sale_end, queue, admit_per_second";

impl Db {
    /// Connects to `mysql://…` or `sqlite://path` (the SQLite file and its folder are created).
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let (dialect, url) = if url.starts_with("sqlite:") {
            (Dialect::Sqlite, sqlite_url(url)?)
        } else {
            (Dialect::MySql, url.to_string())
        };
        let mut options = AnyPoolOptions::new()
            .max_connections(if dialect == Dialect::Sqlite { 4 } else { 16 })
            .acquire_timeout(Duration::from_secs(5));
        if dialect == Dialect::Sqlite {
            // Per connection (SQLite does not keep it in the file). FULL syncs the WAL at every
            // commit, so an order answered 202 survives a power cut too; group commit keeps
            // that to one sync per group of orders.
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::Executor::execute(&mut *conn, "PRAGMA synchronous = FULL").await?;
                    Ok(())
                })
            });
        }
        let pool = options
            .connect(&url)
            .await
            .map_err(|source| DbError::Connect {
                url: crate::config::redact_url(&url),
                source,
            })?;
        Ok(Db { pool, dialect })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Creates or upgrades the schema.
    pub async fn migrate(&self) -> Result<(), DbError> {
        match self.dialect {
            Dialect::Sqlite => {
                // WAL lets the gateway read while the worker writes; it persists in the file.
                sqlx::query("PRAGMA journal_mode = WAL")
                    .execute(&self.pool)
                    .await?;
                SQLITE_MIGRATIONS.run(&self.pool).await?
            }
            Dialect::MySql => MYSQL_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    /// Whether the database answers at all (to tell "the database is down" from "this order
    /// cannot be recorded").
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    pub async fn close(&self) {
        self.pool.close().await
    }

    /// Writes a consistent copy of the SQLite database to `path` (which must not exist),
    /// while others keep writing: `VACUUM INTO` reads in one transaction. The copy is written
    /// beside `path` and renamed into place, so `path` is either whole or absent.
    pub async fn backup_to(&self, path: &Path) -> Result<(), DbError> {
        if self.dialect != Dialect::Sqlite {
            return Err(DbError::BackupUnsupported);
        }
        if path.exists() {
            return Err(DbError::BackupExists(path.display().to_string()));
        }
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = std::path::PathBuf::from(partial);
        // Created empty and private first: SQLite writes into an empty file, keeping its mode.
        let _ = std::fs::remove_file(&partial);
        create_private_file(&partial)
            .map_err(|e| DbError::CreateFile(partial.display().to_string(), e))?;
        let copied = sqlx::query("VACUUM INTO ?")
            .bind(partial.to_string_lossy().into_owned())
            .execute(&self.pool)
            .await;
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&partial);
            return Err(e.into());
        }
        std::fs::rename(&partial, path)
            .map_err(|e| DbError::CreateFile(path.display().to_string(), e))
    }

    /// A transaction that will write. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so it waits its turn behind the other writer (the busy timeout) instead of
    /// failing at its first write because another commit came in since its first read (which
    /// starved the worker behind the outbox's group commits).
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Dialect::MySql => self.pool.begin().await,
        }
    }

    // ---- shoppers ----

    pub async fn create_user(
        &self,
        nick_name: &str,
        user_name: &str,
        password_hash: &str,
    ) -> Result<i64, DbError> {
        let result = sqlx::query(
            "INSERT INTO users (nick_name, user_name, password_hash, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(nick_name)
        .bind(user_name)
        .bind(password_hash)
        .bind(crate::domain::now_unix())
        .execute(&self.pool)
        .await;
        match result {
            Ok(done) => match done.last_insert_id() {
                Some(id) => Ok(id),
                None => self.user_id_by_name(user_name).await,
            },
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(DbError::UserNameTaken),
            Err(e) => Err(e.into()),
        }
    }

    async fn user_id_by_name(&self, user_name: &str) -> Result<i64, DbError> {
        Ok(sqlx::query("SELECT id FROM users WHERE user_name = ?")
            .bind(user_name)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }

    pub async fn find_user_by_name(&self, user_name: &str) -> Result<Option<User>, DbError> {
        let row = sqlx::query(
            "SELECT id, nick_name, user_name, password_hash FROM users WHERE user_name = ?",
        )
        .bind(user_name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(User {
                id: r.try_get(0)?,
                nick_name: r.try_get(1)?,
                user_name: r.try_get(2)?,
                password_hash: r.try_get(3)?,
            })
        })
        .transpose()
    }

    pub async fn find_user_by_id(&self, id: i64) -> Result<Option<User>, DbError> {
        let row =
            sqlx::query("SELECT id, nick_name, user_name, password_hash FROM users WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| {
            Ok(User {
                id: r.try_get(0)?,
                nick_name: r.try_get(1)?,
                user_name: r.try_get(2)?,
                password_hash: r.try_get(3)?,
            })
        })
        .transpose()
    }

    /// Replaces a shopper's password hash (a password change); whether the shopper exists.
    pub async fn set_password_hash(&self, id: i64, password_hash: &str) -> Result<bool, DbError> {
        let done = sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(password_hash)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    // ---- products ----

    pub async fn list_products(&self) -> Result<Vec<Product>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {PRODUCT_COLUMNS} FROM products ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(product_from_row).collect()
    }

    pub async fn get_product(&self, id: i64) -> Result<Option<Product>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {PRODUCT_COLUMNS} FROM products WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(product_from_row).transpose()
    }

    pub async fn insert_product(&self, p: &NewProduct) -> Result<i64, DbError> {
        let done = sqlx::query(
            "INSERT INTO products (name, stock, price_cents, image, description, sale_start, sale_end, \
             queue, admit_per_second, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&p.name)
        .bind(p.stock)
        .bind(p.price_cents)
        .bind(&p.image)
        .bind(&p.description)
        .bind(p.sale_start)
        .bind(p.sale_end)
        .bind(i64::from(p.queue))
        .bind(i64::from(p.admit_per_second))
        .bind(crate::domain::now_unix())
        .execute(&self.pool)
        .await?;
        match done.last_insert_id() {
            Some(id) => Ok(id),
            None => Ok(sqlx::query("SELECT MAX(id) FROM products")
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?),
        }
    }

    pub async fn count_products(&self) -> Result<i64, DbError> {
        Ok(sqlx::query("SELECT COUNT(*) FROM products")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }

    /// Replaces every field of product `id`; returns whether it exists.
    pub async fn update_product(&self, id: i64, p: &NewProduct) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE products SET name = ?, stock = ?, price_cents = ?, image = ?, description = ?, \
             sale_start = ?, sale_end = ?, queue = ?, admit_per_second = ?, updated_at = ? WHERE id = ?",
        )
        .bind(&p.name)
        .bind(p.stock)
        .bind(p.price_cents)
        .bind(&p.image)
        .bind(&p.description)
        .bind(p.sale_start)
        .bind(p.sale_end)
        .bind(i64::from(p.queue))
        .bind(i64::from(p.admit_per_second))
        .bind(crate::domain::now_unix())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes product `id` from the catalogue; returns whether it existed. Its orders stay:
    /// they are the shop's history.
    pub async fn delete_product(&self, id: i64) -> Result<bool, DbError> {
        let done = sqlx::query("DELETE FROM products WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    // ---- orders ----

    /// Records a batch of accepted orders in one transaction: each order is inserted at most
    /// once (by order id, and by shopper and product) and takes one unit of stock, never below
    /// zero. Either the whole batch is recorded or none of it. On SQLite the same transaction
    /// takes the orders out of the outbox.
    ///
    /// The common case (new orders, stock for all of them) takes a handful of statements for
    /// the whole batch; anything unusual (an order already there, a shopper twice, too little
    /// stock) rolls back and is recorded order by order, with the same result.
    pub async fn record_orders(&self, batch: &[OrderMessage]) -> Result<Vec<Recorded>, DbError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write().await.map_err(classify)?;
        match self.record_batch(&mut tx, batch).await.map_err(classify)? {
            Some(outcomes) => {
                self.clear_outbox(&mut tx, batch).await.map_err(classify)?;
                tx.commit().await.map_err(classify)?;
                Ok(outcomes)
            }
            None => {
                tx.rollback().await.map_err(classify)?;
                self.record_one_by_one(batch).await.map_err(classify)
            }
        }
    }

    /// The fast path: `None` when the batch needs the careful one.
    async fn record_batch(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        batch: &[OrderMessage],
    ) -> Result<Option<Vec<Recorded>>, sqlx::Error> {
        let marks = vec!["?"; batch.len()].join(", ");
        let sql = format!("SELECT order_id FROM orders WHERE order_id IN ({marks})");
        let mut existing = sqlx::query(&sql);
        for order in batch {
            existing = existing.bind(&order.order_id);
        }
        let existing: HashSet<String> = existing
            .fetch_all(&mut **tx)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;

        let mut seen_ids = HashSet::new();
        let mut seen_shoppers = HashSet::new();
        let mut fresh = Vec::new();
        let mut outcomes = Vec::with_capacity(batch.len());
        for order in batch {
            if existing.contains(&order.order_id) || !seen_ids.insert(order.order_id.as_str()) {
                outcomes.push(Recorded::Duplicate);
                continue;
            }
            if !seen_shoppers.insert((order.user_id, order.product_id)) {
                return Ok(None);
            }
            fresh.push(order);
            outcomes.push(Recorded::Confirmed);
        }
        if fresh.is_empty() {
            return Ok(Some(outcomes));
        }

        let ignore = match self.dialect {
            Dialect::Sqlite => "INSERT OR IGNORE",
            Dialect::MySql => "INSERT IGNORE",
        };
        let rows = vec!["(?, ?, ?, ?, ?)"; fresh.len()].join(", ");
        let sql = format!(
            "{ignore} INTO orders (order_id, user_id, product_id, status, created_at) VALUES {rows}"
        );
        let mut insert = sqlx::query(&sql);
        for order in &fresh {
            insert = insert
                .bind(&order.order_id)
                .bind(order.user_id)
                .bind(order.product_id)
                .bind(OrderStatus::Confirmed.as_str())
                .bind(order.accepted_at);
        }
        if insert.execute(&mut **tx).await?.rows_affected() != fresh.len() as u64 {
            // Some shopper already had an order of that product (or another worker raced us).
            return Ok(None);
        }

        // Per product in id order, so concurrent workers lock product rows in the same order.
        let mut per_product: BTreeMap<i64, i64> = BTreeMap::new();
        for order in &fresh {
            *per_product.entry(order.product_id).or_default() += 1;
        }
        for (product_id, n) in per_product {
            let taken =
                sqlx::query("UPDATE products SET stock = stock - ? WHERE id = ? AND stock >= ?")
                    .bind(n)
                    .bind(product_id)
                    .bind(n)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
            if taken != 1 {
                return Ok(None);
            }
        }
        Ok(Some(outcomes))
    }

    /// The careful path: order by order, an order without stock recorded as failed.
    async fn record_one_by_one(
        &self,
        batch: &[OrderMessage],
    ) -> Result<Vec<Recorded>, sqlx::Error> {
        let insert = match self.dialect {
            Dialect::Sqlite => "INSERT OR IGNORE INTO orders (order_id, user_id, product_id, status, created_at) VALUES (?, ?, ?, ?, ?)",
            Dialect::MySql => "INSERT IGNORE INTO orders (order_id, user_id, product_id, status, created_at) VALUES (?, ?, ?, ?, ?)",
        };
        let mut tx = self.begin_write().await?;
        let mut outcomes = Vec::with_capacity(batch.len());
        for order in batch {
            let inserted = sqlx::query(insert)
                .bind(&order.order_id)
                .bind(order.user_id)
                .bind(order.product_id)
                .bind(OrderStatus::Confirmed.as_str())
                .bind(order.accepted_at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if inserted == 0 {
                outcomes.push(Recorded::Duplicate);
                continue;
            }
            let taken =
                sqlx::query("UPDATE products SET stock = stock - 1 WHERE id = ? AND stock > 0")
                    .bind(order.product_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            if taken == 1 {
                outcomes.push(Recorded::Confirmed);
            } else {
                sqlx::query("UPDATE orders SET status = ? WHERE order_id = ?")
                    .bind(OrderStatus::Failed.as_str())
                    .bind(&order.order_id)
                    .execute(&mut *tx)
                    .await?;
                outcomes.push(Recorded::Failed);
            }
        }
        self.clear_outbox(&mut tx, batch).await?;
        tx.commit().await?;
        Ok(outcomes)
    }

    /// On SQLite, removes the batch's orders from the embedded queue's outbox in the
    /// transaction that records them: one commit (one sync) per batch instead of two, and no
    /// order is ever in both tables. The queue's acknowledgement deletes them too (idempotent),
    /// which is all MySQL gets: there a statement per batch on an empty table in a RabbitMQ
    /// deployment would only add locks.
    async fn clear_outbox(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        batch: &[OrderMessage],
    ) -> Result<(), sqlx::Error> {
        if self.dialect != Dialect::Sqlite {
            return Ok(());
        }
        for chunk in batch.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!("DELETE FROM outbox WHERE order_id IN ({marks})");
            let mut delete = sqlx::query(&sql);
            for order in chunk {
                delete = delete.bind(&order.order_id);
            }
            delete.execute(&mut **tx).await?;
        }
        Ok(())
    }

    pub async fn find_order(&self, order_id: &str) -> Result<Option<Order>, DbError> {
        let row = sqlx::query(
            "SELECT order_id, user_id, product_id, status, created_at FROM orders WHERE order_id = ?",
        )
        .bind(order_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(order_from_row).transpose()
    }

    /// Shoppers who already have an order for a product, with its id: when the stock store is
    /// loaded they must not be able to buy it again.
    pub async fn order_holders(&self, product_id: i64) -> Result<Vec<Holder>, DbError> {
        let rows = sqlx::query("SELECT user_id, order_id FROM orders WHERE product_id = ?")
            .bind(product_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Holder {
                    user_id: r.try_get(0)?,
                    order_id: r.try_get(1)?,
                })
            })
            .collect()
    }

    /// (confirmed, failed) orders of a product.
    pub async fn order_counts(&self, product_id: i64) -> Result<(i64, i64), DbError> {
        let row = sqlx::query(
            "SELECT COUNT(CASE WHEN status = ? THEN 1 END), COUNT(CASE WHEN status = ? THEN 1 END) \
             FROM orders WHERE product_id = ?",
        )
        .bind(OrderStatus::Confirmed.as_str())
        .bind(OrderStatus::Failed.as_str())
        .bind(product_id)
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    /// Every order of a product, for checks and the admin.
    pub async fn orders_of_product(&self, product_id: i64) -> Result<Vec<Order>, DbError> {
        let rows = sqlx::query(
            "SELECT order_id, user_id, product_id, status, created_at FROM orders WHERE product_id = ? ORDER BY created_at",
        )
        .bind(product_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(order_from_row).collect()
    }

    // ---- the back-office's views of orders ----

    /// One page of orders, newest first, with the shopper's and the product's names.
    pub async fn list_orders(
        &self,
        filter: &OrderFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<OrderRow>, DbError> {
        let (conditions, args) = filter.sql();
        let sql = format!(
            "SELECT o.order_id, o.user_id, u.user_name, u.nick_name, o.product_id, p.name, \
             o.status, o.created_at \
             FROM orders o LEFT JOIN users u ON u.id = o.user_id \
             LEFT JOIN products p ON p.id = o.product_id{conditions} \
             ORDER BY o.created_at DESC, o.order_id DESC LIMIT ? OFFSET ?"
        );
        let mut query = sqlx::query(&sql);
        for arg in &args {
            query = query.bind(arg);
        }
        let rows = query
            .bind(limit.max(0))
            .bind(offset.max(0))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let status: String = r.try_get(6)?;
                Ok(OrderRow {
                    order_id: r.try_get(0)?,
                    user_id: r.try_get(1)?,
                    user_name: r.try_get(2)?,
                    nick_name: r.try_get(3)?,
                    product_id: r.try_get(4)?,
                    product_name: r.try_get(5)?,
                    status: OrderStatus::parse(&status).unwrap_or(OrderStatus::Queued),
                    created_at: r.try_get(7)?,
                })
            })
            .collect()
    }

    /// How many orders match `filter` (for paging).
    pub async fn count_orders(&self, filter: &OrderFilter) -> Result<i64, DbError> {
        let (conditions, args) = filter.sql();
        let sql = format!(
            "SELECT COUNT(*) FROM orders o LEFT JOIN users u ON u.id = o.user_id \
             LEFT JOIN products p ON p.id = o.product_id{conditions}"
        );
        let mut query = sqlx::query(&sql);
        for arg in &args {
            query = query.bind(arg);
        }
        Ok(query.fetch_one(&self.pool).await?.try_get(0)?)
    }

    /// Per product that has orders: confirmed and failed orders, and those accepted at or
    /// after `since_ms` (unix milliseconds), for the dashboard.
    pub async fn order_stats(&self, since_ms: i64) -> Result<Vec<ProductOrderStats>, DbError> {
        let rows = sqlx::query(
            "SELECT product_id, COUNT(CASE WHEN status = ? THEN 1 END), \
             COUNT(CASE WHEN status = ? THEN 1 END), COUNT(CASE WHEN created_at >= ? THEN 1 END) \
             FROM orders GROUP BY product_id ORDER BY product_id",
        )
        .bind(OrderStatus::Confirmed.as_str())
        .bind(OrderStatus::Failed.as_str())
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ProductOrderStats {
                    product_id: r.try_get(0)?,
                    confirmed: r.try_get(1)?,
                    failed: r.try_get(2)?,
                    recent: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// Orders accepted per minute since `since_ms`: (minute as unix ms, count), oldest first;
    /// minutes without orders are left out.
    pub async fn orders_per_minute(&self, since_ms: i64) -> Result<Vec<(i64, i64)>, DbError> {
        // Integer division is spelled differently: SQLite's `/` on integers truncates,
        // MySQL's gives a decimal.
        let minute = match self.dialect {
            Dialect::Sqlite => "created_at / 60000",
            Dialect::MySql => "created_at DIV 60000",
        };
        let sql = format!(
            "SELECT {minute} AS m, COUNT(*) FROM orders WHERE created_at >= ? GROUP BY m ORDER BY m"
        );
        let rows = sqlx::query(&sql)
            .bind(since_ms)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let m: i64 = r.try_get(0)?;
                Ok((m * 60_000, r.try_get(1)?))
            })
            .collect()
    }
}

/// Which orders the back-office lists: every given part must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    /// Part of the shopper's user name or nick name (case-insensitive).
    pub shopper: Option<String>,
    /// Part of the product's name (case-insensitive), or its exact id.
    pub product: Option<String>,
}

impl OrderFilter {
    /// The `WHERE` clause (empty when nothing is filtered) and its arguments, in order.
    fn sql(&self) -> (String, Vec<String>) {
        let mut conditions = Vec::new();
        let mut args = Vec::new();
        if let Some(shopper) = self.shopper.as_deref().filter(|s| !s.is_empty()) {
            conditions.push(
                "(LOWER(u.user_name) LIKE ? ESCAPE '!' OR LOWER(u.nick_name) LIKE ? ESCAPE '!')",
            );
            let pattern = like_pattern(shopper);
            args.push(pattern.clone());
            args.push(pattern);
        }
        if let Some(product) = self.product.as_deref().filter(|s| !s.is_empty()) {
            // An id is compared as text so one bound argument type serves both dialects.
            conditions.push("(LOWER(p.name) LIKE ? ESCAPE '!' OR CAST(o.product_id AS CHAR) = ?)");
            args.push(like_pattern(product));
            args.push(product.trim().to_string());
        }
        if conditions.is_empty() {
            (String::new(), args)
        } else {
            (format!(" WHERE {}", conditions.join(" AND ")), args)
        }
    }
}

/// `%text%`, lower-cased, with LIKE's wildcards in `text` taken literally (`!` escapes).
fn like_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '!') {
            pattern.push('!');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// An order as the back-office lists it. Names are `None` when the shopper or the product
/// is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRow {
    pub order_id: String,
    pub user_id: i64,
    pub user_name: Option<String>,
    pub nick_name: Option<String>,
    pub product_id: i64,
    pub product_name: Option<String>,
    pub status: OrderStatus,
    /// Unix milliseconds when the gateway accepted it.
    pub created_at: i64,
}

/// A product's orders in numbers, for the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductOrderStats {
    pub product_id: i64,
    pub confirmed: i64,
    pub failed: i64,
    /// Orders accepted since the time asked for.
    pub recent: i64,
}

fn product_from_row(r: &AnyRow) -> Result<Product, DbError> {
    Ok(Product {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        stock: r.try_get(2)?,
        price_cents: r.try_get(3)?,
        image: r.try_get(4)?,
        description: r.try_get(5)?,
        sale_start: r.try_get(6)?,
        sale_end: r.try_get(7)?,
        queue: r.try_get::<i64, _>(8)? != 0,
        // The column's CHECK keeps it non-negative; a value past u32 is clamped, not wrapped.
        admit_per_second: u32::try_from(r.try_get::<i64, _>(9)?.max(0)).unwrap_or(u32::MAX),
    })
}

fn order_from_row(r: &AnyRow) -> Result<Order, DbError> {
    let status: String = r.try_get(3)?;
    Ok(Order {
        order_id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        product_id: r.try_get(2)?,
        // An unknown status can only come from a newer version's row; treat it as in flight.
        status: OrderStatus::parse(&status).unwrap_or(OrderStatus::Queued),
        created_at: r.try_get(4)?,
    })
}

/// A deadlock (SQLSTATE 40001) or SQLite's busy/locked is no fault of the orders: retry.
fn classify(e: sqlx::Error) -> DbError {
    let busy = e
        .as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|code| matches!(code.as_ref(), "40001" | "5" | "6" | "517" | "262"));
    if busy {
        DbError::Busy(e)
    } else {
        DbError::Query(e)
    }
}

/// The file of a `sqlite://…` URL; `None` for another database or an in-memory SQLite.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split_once('?').map_or(rest, |(path, _)| path);
    (path != ":memory:" && !path.is_empty()).then(|| path.into())
}

/// `sqlite://data/x.db` -> the same URL with its folder created (0700) and the file created
/// (0600; SQLite gives its `-wal` and `-shm` files the same mode), and `mode=rwc`.
fn sqlite_url(url: &str) -> Result<String, DbError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path != ":memory:" {
        if let Some(dir) = Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            create_private_dir(dir)
                .map_err(|e| DbError::CreateDir(dir.display().to_string(), e))?;
        }
        if !query.contains("mode=ro") {
            create_private_file(Path::new(path))
                .map_err(|e| DbError::CreateFile(path.to_string(), e))?;
        }
    }
    let mode = if query.contains("mode=") {
        ""
    } else {
        "mode=rwc"
    };
    let query = [query, mode]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("&");
    Ok(format!("sqlite://{path}?{query}"))
}

/// Creates `dir` (and its parents) readable by the owner only; an existing folder is left as
/// it is (the operator chose its mode).
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates an empty `path` readable by the owner only, unless it exists: SQLite would create
/// it with the umask's mode (usually world-readable), and shoppers' password hashes live there.
pub(crate) fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}
