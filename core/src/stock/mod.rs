//! The stock store: decides, atomically, whether a shopper gets a unit, and settles each
//! reservation exactly once between the gateway and the worker.
//!
//! A reservation takes one unit of a product and records the shopper with the order's id, so
//! a shopper never holds two units of one product and stock never goes below zero.
//!
//! Then one of two things happens to it, never both, decided by the store in one atomic step:
//! - the worker **claims** it before recording the order in the database, or
//! - the gateway **releases** it because publishing the order failed (and answers 503).
//!
//! A publish can fail *after* the broker took the message (the confirm was lost). If the
//! gateway releases first, the worker later finds the order withdrawn and drops it: the 503
//! stands and the unit is sold once. If the worker claims first, the release is refused and
//! the gateway answers 202, because the order is in fact being recorded. Without this, a lost
//! confirm would both answer 503 and sell the unit, and give the unit back to be sold again.

mod memory;
mod redis;

pub(crate) use self::redis::connect_manager;
pub use self::redis::RedisStock;
pub use memory::MemoryStock;
// Where the holders come from is the database's business; the store only keeps them.
pub use crate::domain::Holder;

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

/// The answer to a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// The order is withdrawn: its unit (if it was still held) is back in stock, and the
    /// worker will drop the order if it ever sees it.
    Withdrawn,
    /// Too late: the worker already claimed the order, so it is being recorded.
    Claimed,
}

/// The answer to a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Record the order.
    Record,
    /// The gateway withdrew the order (the shopper was answered 503): drop it.
    Withdrawn,
}

#[derive(Debug, thiserror::Error)]
pub enum StockError {
    #[error("the stock store is unreachable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait StockStore: Send + Sync + 'static {
    /// Atomically: if the shopper holds no unit of the product and stock remains, take one
    /// for order `order_id`.
    async fn reserve(
        &self,
        product_id: i64,
        user_id: i64,
        order_id: &str,
    ) -> Result<Reservation, StockError>;

    /// Withdraws order `order_id` (it could not be queued), unless the worker claimed it.
    async fn release(
        &self,
        product_id: i64,
        user_id: i64,
        order_id: &str,
    ) -> Result<Release, StockError>;

    /// Claims orders of one product for recording (the worker, before its transaction); one
    /// answer per order, in order. Claiming an order twice (a redelivery) answers the same.
    async fn claim(
        &self,
        product_id: i64,
        orders: &[(i64, &str)],
    ) -> Result<Vec<Claim>, StockError>;

    /// Sets a product's remaining units and the shoppers who already hold one (their orders
    /// count as claimed), replacing what the store had: an admin's stock edit.
    async fn load(
        &self,
        product_id: i64,
        remaining: i64,
        holders: &[Holder],
    ) -> Result<(), StockError>;

    /// Like [`StockStore::load`], but only if the store does not know the product; returns
    /// whether it loaded. The check and the load are one step, so two gateways healing a lost
    /// product at once cannot reset each other's reservations.
    async fn load_if_missing(
        &self,
        product_id: i64,
        remaining: i64,
        holders: &[Holder],
    ) -> Result<bool, StockError>;

    /// Units not yet reserved; `None` when the product is not loaded.
    async fn remaining(&self, product_id: i64) -> Result<Option<i64>, StockError>;

    /// How many shoppers hold a unit; `None` when the product is not loaded. For the audit.
    async fn holders(&self, product_id: i64) -> Result<Option<u64>, StockError>;
}
