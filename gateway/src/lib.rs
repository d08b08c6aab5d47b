//! flashsale-gateway: the pingora server shoppers talk to.
//!
//! - [`server`]: starts the pingora server on its threads and stops it on request.
//! - [`proxy`]: the `ProxyHttp` implementation: routes each request to its handler.
//! - [`static_files`]: serves `dist/` from memory, and nothing outside it.
//! - `site_snapshot`: loads each publish of `dist/` whole, checked against its manifest.
//! - [`accounts`]: register, log in (the `uid` + `sign` cookies), log out.
//! - [`form_page`]: a refused account form answered with the shop's own page and the error.
//! - [`password`]: slow password hashing, bounded and off the async threads.
//! - [`sessions`]: this node's cache of revoked sessions (logout, password change).
//! - [`verified`]: `sign` tokens already verified, so a click skips the cryptography.
//! - [`throttle`]: slows password guessing and mass registration.
//! - [`buy`]: the Buy decision: cooldown, sold-out flag, reservation, queue; the clock it reads.
//! - [`cooldown`]: the per-shopper cooldown, atomic and bounded.
//! - [`catalog`]: the products in memory and their sold-out flags.
//! - [`cluster`]: the ring of gateways: who owns a shopper, and the forwarding marker.
//! - [`metrics`]: per-node counters and latency, in the Prometheus text format.
//! - [`room`]: the waiting room: challenges, joins, status, and who may Buy a queued product.
//! - [`orders`]: order status for the shopper who placed it.
//! - [`shop`]: the state a node shares across its threads.
//! - [`reply`], [`request`]: writing responses, reading cookies, queries and forms.

pub mod accounts;
pub mod buy;
pub mod catalog;
pub mod cluster;
pub mod cooldown;
pub mod error;
pub mod form_page;
pub mod metrics;
pub mod orders;
pub mod password;
pub mod proxy;
pub mod reply;
pub mod request;
pub mod room;
pub mod server;
pub mod sessions;
pub mod shop;
mod site_snapshot;
pub mod static_files;
pub mod throttle;
pub mod verified;

pub use error::StartError;
pub use server::{spawn, GatewayHandle};
pub use shop::{Shop, ShopParts};
