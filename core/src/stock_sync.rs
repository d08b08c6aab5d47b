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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{new_order_id, NewProduct, OrderMessage};
    use crate::stock::{MemoryStock, Reservation};

    fn order(user_id: i64, product_id: i64) -> OrderMessage {
        OrderMessage {
            order_id: new_order_id(),
            user_id,
            product_id,
            accepted_at: 0,
        }
    }

    /// A product of 5 units: shopper 7's order recorded, shopper 8's still in the outbox.
    async fn sale(dir: &tempfile::TempDir) -> (Db, i64) {
        let db = Db::connect(&format!("sqlite://{}/s.db", dir.path().display()))
            .await
            .expect("connect");
        db.migrate().await.expect("migrate");
        let id = db
            .insert_product(&NewProduct::on_sale_now("p", 5, 1))
            .await
            .expect("insert");
        db.record_orders(&[order(7, id)]).await.expect("record");
        db.outbox_put(&[order(8, id)]).await.expect("outbox");
        (db, id)
    }

    #[tokio::test]
    async fn a_new_product_is_set_from_the_database_books() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (db, id) = sale(&dir).await;
        let store = MemoryStock::new();
        store.load(id, 99, &[]).await.expect("stale load");
        assert!(load(&db, &store, id).await.expect("load"));
        // 5 units, one recorded, one promised by the outbox.
        assert_eq!(store.remaining(id).await.ok(), Some(Some(3)));
        for shopper in [7, 8] {
            assert_eq!(
                store.reserve(id, shopper, &new_order_id()).await.ok(),
                Some(Reservation::AlreadyHeld),
                "shopper {shopper} bought again"
            );
        }
        assert!(!load(&db, &store, id + 1).await.expect("no such product"));
    }

    #[tokio::test]
    async fn a_start_loads_a_missing_product_once_and_never_resets_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (db, id) = sale(&dir).await;
        let store = MemoryStock::new();
        assert!(load_missing(&db, &store, id).await.expect("first load"));
        assert_eq!(store.remaining(id).await.ok(), Some(Some(3)));
        assert_eq!(
            store.reserve(id, 9, &new_order_id()).await.ok(),
            Some(Reservation::Reserved)
        );
        assert!(!load_missing(&db, &store, id).await.expect("second load"));
        assert_eq!(store.remaining(id).await.ok(), Some(Some(2)));
        assert_eq!(store.holders(id).await.ok(), Some(Some(3)));
    }

    #[tokio::test]
    async fn a_stock_edit_keeps_back_the_orders_still_in_flight() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (db, id) = sale(&dir).await;
        let store = MemoryStock::new();
        assert!(load(&db, &store, id).await.expect("load"));
        // Shopper 9 reserved in the store; the order is on the queue, not in the database.
        assert_eq!(
            store.reserve(id, 9, &new_order_id()).await.ok(),
            Some(Reservation::Reserved)
        );
        // The admin sets 10 units. Shopper 8 (outbox) and shopper 9 (queue) will each take one
        // of them when the worker records them, so only 8 are left to sell.
        let set = reset(&db, &store, id, 10).await.expect("reset");
        assert_eq!(
            set,
            Some(Reset {
                in_flight: 2,
                remaining: 8
            })
        );
        assert_eq!(store.remaining(id).await.ok(), Some(Some(8)));
        assert_eq!(
            reset(&db, &store, id + 1, 10)
                .await
                .expect("no such product"),
            None
        );
    }

    #[tokio::test]
    async fn a_start_loads_every_missing_product_and_leaves_the_known_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (db, id) = sale(&dir).await;
        let other = db
            .insert_product(&NewProduct::on_sale_now("q", 4, 1))
            .await
            .expect("insert");
        let store = MemoryStock::new();
        // Another gateway is already selling `other`: its count is not the database's.
        store.load(other, 1, &[]).await.expect("known load");
        load_all_missing(&db, &store).await.expect("load all");
        assert_eq!(store.remaining(id).await.ok(), Some(Some(3)));
        assert_eq!(store.remaining(other).await.ok(), Some(Some(1)));
    }
}
