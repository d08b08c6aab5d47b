//! flashsale-core: what every part of Flashsale shares.
//!
//! - [`config`]: the TOML file and `FLASHSALE_*` environment overrides.
//! - [`domain`]: products, shoppers, orders.
//! - [`html`]: escaping text for HTML pages.
//! - [`money`]: prices in minor units formatted for the shop's currency ("$199.00", "¥199").
//! - [`cookie`]: the `sign` cookie codec (AES-CBC + HMAC-SHA256, versioned keys).
//! - [`ring`]: the crc32 consistent-hash ring that gives each shopper one owner node.
//! - [`db`]: the database (MySQL or SQLite through sqlx) and its migrations, a file per part of
//!   the schema (shoppers, products, orders, the back-office's reports, the outbox).
//! - [`stock`]: the stock store that reserves units atomically (memory or Redis).
//! - [`stock_sync`]: the stock store set from the database's books (load, heal, the admin's reset).
//! - [`password`]: the password policy (length, and not guessable: zxcvbn).
//! - [`secrets`]: random secrets, the password hash (Argon2id), secret files written whole.
//! - [`sessions`]: revoked sessions (logout, password change), shared by every gateway.
//! - [`queue`]: the order queue between the gateway and the worker (an outbox table in the
//!   database, or RabbitMQ), and group commit.
//! - [`waiting_room`]: the per-product line of a drop: draw, positions, admission rate, challenges.
//! - [`site_manifest`]: what a publish of `dist/` holds; written by sitegen, read by the gateway.

pub mod config;
pub mod cookie;
pub mod db;
pub mod domain;
pub mod html;
pub mod money;
pub mod password;
pub mod queue;
pub mod ring;
pub mod secrets;
pub mod sessions;
pub mod site_manifest;
pub mod stock;
pub mod stock_sync;
pub mod waiting_room;

pub use config::Config;
pub use cookie::SignCodec;
pub use db::Db;
pub use ring::Ring;
