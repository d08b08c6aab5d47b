//! flashsale: the one command that runs every part of the shop.
//!
//! - [`cmd`]: one module per subcommand of the CLI.
//! - [`stack`]: the whole shop in one process (`flashsale up`, and the end-to-end tests).
//! - [`demo`]: the demo catalogue of a first run.

pub mod cmd;
pub mod demo;
pub mod stack;
