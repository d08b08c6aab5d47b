//! flashsale-order-worker: drains the order queue into the database.
//!
//! - [`drain`]: the loop: take a batch, record it in one transaction, acknowledge, repeat.

pub mod drain;

pub use drain::{drain, DrainOptions, DrainStats};
