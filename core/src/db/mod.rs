//! The database: shoppers, products and orders, on MySQL/MariaDB or SQLite.
//!
//! One implementation over sqlx's `Any` driver: the two dialects differ in a single statement
//! (how to insert-or-ignore), so a [`Dialect`] switch is simpler than two copies of every
//! query. Every query is parameterised.
//!
//! SQLite runs in WAL mode with `synchronous = FULL`: a committed transaction is on disk
//! before the commit returns, so what the shop acknowledged survives a crash and a power cut
//! (the README says what that costs and what it does not cover).
//!
//! One file per part of the schema: `users` (shoppers), `products`, `changes` (the log of
//! catalogue writes), `orders` (recording the worker's batches), `reports` (the back-office's
//! views of orders), `shopper_orders` (a shopper's own, for `GET /orders`), `outbox` (the
//! embedded queue), `admin_sessions`, and `files` (the SQLite file and its backups).

mod admin_sessions;
mod changes;
mod files;
mod orders;
mod outbox;
mod products;
mod reports;
mod shopper_orders;
mod users;

pub use admin_sessions::StoredSession;
pub use changes::ProductChange;
pub use files::sqlite_file;
pub use orders::Recorded;
pub use outbox::{OutboxCounts, StockBooks};
pub use reports::{OrderFilter, OrderRow, ProductOrderStats};
pub use shopper_orders::{OrderCursor, ShopperOrder};

use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;
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

#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    dialect: Dialect,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static MYSQL_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/mysql");

impl Db {
    /// Connects to `mysql://…` or `sqlite://path` (the SQLite file and its folder are created).
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let (dialect, url) = if url.starts_with("sqlite:") {
            (Dialect::Sqlite, files::sqlite_url(url)?)
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
