//! The stock store: decides, atomically, whether a shopper gets a unit.
//!
//! A reservation takes one unit from a product's remaining stock and records the shopper, so a
//! shopper never holds two units of one product and stock never goes below zero. Reservations
//! are given back when the order could not be queued.

mod memory;

pub use memory::MemoryStock;

use async_trait::async_trait;

/// The answer to a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// One unit is now held for the shopper.
    Reserved,
    /// The shopper already holds one; nothing changed.
    AlreadyHeld,
    /// No unit left; nothing changed.
    SoldOut,
    /// The store does not know this product's stock (never loaded, or lost in a restart).
    /// Treated as unavailable, never as unlimited.
    NotLoaded,
}

#[derive(Debug, thiserror::Error)]
pub enum StockError {
    #[error("the stock store is unreachable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait StockStore: Send + Sync + 'static {
    /// Atomically: if the shopper holds no unit of the product and stock remains, take one.
    async fn reserve(&self, product_id: i64, user_id: i64) -> Result<Reservation, StockError>;

    /// Gives a shopper's unit back (the order could not be queued). Returns whether one was held.
    async fn release(&self, product_id: i64, user_id: i64) -> Result<bool, StockError>;

    /// Sets a product's remaining units and the shoppers who already hold one, replacing what
    /// the store had (loading from the database, or an admin's stock edit).
    async fn load(
        &self,
        product_id: i64,
        remaining: i64,
        holders: &[i64],
    ) -> Result<(), StockError>;

    /// Units not yet reserved; `None` when the product is not loaded.
    async fn remaining(&self, product_id: i64) -> Result<Option<i64>, StockError>;
}

/// Sets a product's stock in the store from the database: the units the database still has and
/// the shoppers who already hold an order. Call it when the store may have lost its state (a
/// start, an admin's stock edit, a sale starting); it replaces what the store had.
pub async fn load_from_db(
    db: &crate::Db,
    store: &dyn StockStore,
    product: &crate::domain::Product,
) -> Result<(), LoadError> {
    let holders = db.order_holders(product.id).await?;
    store.load(product.id, product.stock, &holders).await?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("could not read the product's orders")]
    Db(#[from] crate::db::DbError),
    #[error(transparent)]
    Stock(#[from] StockError),
}
