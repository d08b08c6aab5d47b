//! flashsale: the one command that runs every part of the shop.
//!
//! - [`cmd`]: one module per subcommand of the CLI.
//! - [`audit`]: whether the database, the stock store and the queue add up.
//! - [`backends`]: the stock store and order queue chosen by URL.
//! - [`stack`]: the parts assembled and started (`up`, `gateway`, `worker`, and the tests).
//! - [`demo`]: the demo catalogue of a first run.

pub mod audit;
pub mod backends;
pub mod cmd;
pub mod demo;
pub mod stack;
