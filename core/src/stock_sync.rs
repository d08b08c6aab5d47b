//! Keeping the stock store in step with the database: the one place that reads a product's
//! books ([`crate::db::StockBooks`]) and sets the store from them.
//!
//! Three moments need it, and each has its own rule:
//! - a product the store does not know (a fresh start, a Redis that lost its data, a gateway
//!   meeting a product it cannot sell): [`load_missing`], which never replaces what the store
//!   has, because other gateways may be selling it right now ([`load_all_missing`] at start);
//! - a new product: [`load`], which sets it outright;
//! - an admin's stock edit while a sale may be running: [`reset`], which counts the orders in
//!   flight so that no unit is sold twice.
//!
//! The database and the stock store know nothing of each other; this module knows both.

use crate::db::{Db, DbError};
use crate::stock::{StockError, StockStore};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("could not read the product's orders")]
    Db(#[from] DbError),
    #[error(transparent)]
    Stock(#[from] StockError),
    #[error("could not load the stock of product {product}")]
    Product {
        product: i64,
        #[source]
        source: Box<SyncError>,
    },
}

/// Sets product `product_id`'s stock in the store from the database, replacing what the
/// store had: for a product just added. The books are the database's units less those the
/// embedded queue's outbox has promised, and as holders every shopper with an order, recorded
/// or in the outbox. Returns whether the product exists.
pub async fn load(db: &Db, store: &dyn StockStore, product_id: i64) -> Result<bool, SyncError> {
    let Some(books) = db.stock_books(product_id).await? else {
        return Ok(false);
    };
    store
        .load(product_id, books.remaining(), &books.holders)
        .await?;
    Ok(true)
}

/// Like [`load`], but only if the store does not know the product; returns whether it
/// loaded. After a crash of `flashsale up` this is what rebuilds the in-memory store: a
/// shopper whose order is still in the outbox holds their unit, and nothing promised is sold
/// again. The store's check and load are one step, so two gateways healing a lost product at
/// once cannot reset each other's reservations.
pub async fn load_missing(
    db: &Db,
    store: &dyn StockStore,
    product_id: i64,
) -> Result<bool, SyncError> {
    if store.remaining(product_id).await?.is_some() {
        return Ok(false);
    }
    let Some(books) = db.stock_books(product_id).await? else {
        return Ok(false);
    };
    Ok(store
        .load_if_missing(product_id, books.remaining(), &books.holders)
        .await?)
}

/// [`load_missing`] for every product of the catalogue, at start.
pub async fn load_all_missing(db: &Db, store: &dyn StockStore) -> Result<(), SyncError> {
    for product in db.list_products().await? {
        load_missing(db, store, product.id)
            .await
            .map_err(|e| SyncError::Product {
                product: product.id,
                source: Box::new(e),
            })?;
    }
    Ok(())
}

/// What [`reset`] set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reset {
    /// Orders the store holds that the database has not recorded yet.
    pub in_flight: i64,
    /// Units left for sale in the store.
    pub remaining: i64,
}

/// Sets the store's units of product `product_id` after the admin set its stock to `stock`;
/// `None` when the product does not exist.
///
/// `StockStore::load` replaces what the store knows of the product, and a sale may be running.
/// Orders already reserved in the store but still on the queue (not yet in the database) will
/// each take a unit from the stock just set when the worker records them. Loading `stock` as
/// it is would sell those units twice over (the database refuses the extra orders: they end
/// `failed` after the shopper was told `queued`). So the store gets `stock` less the orders
/// in flight, counted as holders in the store minus orders in the database.
///
/// The database is read first: an order recorded between the two reads then counts as in
/// flight, which undersells by one rather than oversells. Shoppers whose order waits in the
/// embedded queue's outbox keep their unit (they are in the database's books); what `load`
/// cannot keep are shoppers whose order is on RabbitMQ: one of them clicking again in that
/// instant may reserve a second unit, which the database's one-order-per-shopper key refuses;
/// that unit is then held, never sold twice. Editing stock in the middle of a storm is rare;
/// never overselling is what matters.
pub async fn reset(
    db: &Db,
    store: &dyn StockStore,
    product_id: i64,
    stock: i64,
) -> Result<Option<Reset>, SyncError> {
    let Some(books) = db.stock_books(product_id).await? else {
        return Ok(None);
    };
    let holders = books.holders;
    let recorded = holders.len() as i64 - books.pending;
    let in_store = store.holders(product_id).await?.unwrap_or(0);
    let in_flight = i64::try_from(in_store)
        .unwrap_or(i64::MAX)
        .saturating_sub(recorded)
        .max(0);
    let remaining = stock.saturating_sub(in_flight).max(0);
    store.load(product_id, remaining, &holders).await?;
    Ok(Some(Reset {
        in_flight,
        remaining,
    }))
}
