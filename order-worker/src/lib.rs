//! flashsale-order-worker: drains the order queue into the database.
//!
//! - [`drain`]: the loop: take a batch, record it in one transaction, acknowledge, repeat.
//! - [`metrics`]: `/healthz` and the Prometheus metrics on `metrics_listen`.

pub mod drain;
pub mod metrics;

pub use drain::{drain, DrainOptions, DrainStats};
