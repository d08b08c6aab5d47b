//! flashsale-admin: the back-office web app (axum, tera pages, the JSON API).
//!
//! Shop staff log in, watch the sale live, edit products, read orders and republish the
//! static site. Every route is listed once in [`routes::ROUTES`] with who may use it, so no
//! route can be added without saying how it is protected.
//!
//! - [`routes`]: the route table, [`app`] (the router, for tests without a socket) and [`serve`].
//! - [`state`]: what every handler shares: database, stock store, sessions, templates.
//! - [`credentials`]: the admin's password (generated on first run, only its hash kept) and
//!   the API token.
//! - `session`: login sessions and their CSRF tokens; `throttle`: slows password guessing.
//! - `guard`: the middleware that refuses unauthenticated requests and unchecked forms.
//! - `product_input`: a product as typed or sent, validated into what the database takes.
//! - `local_time`: times in the shop's time zone, as pages show them and forms take them.
//! - `upload`: product images checked by their bytes and stored for the next republish.
//! - `catalog`: the operations pages and API share: create, edit (resetting stock), delete,
//!   republish.
//! - `republish`: the site kept open between republishes, so one edit renders a few pages.
//! - `pages`: the HTML back-office; `api`: the same operations as JSON under `/api/`.
//! - `csv`: the orders export, safe to open in a spreadsheet.
//! - `templates`: the tera pages and static assets, compiled into the binary.
//! - `error`: [`AppError`], turned into an HTML page or a JSON answer.

mod api;
mod catalog;
pub mod credentials;
mod csv;
mod error;
mod guard;
mod local_time;
mod pages;
mod product_input;
mod republish;
pub mod routes;
mod session;
pub mod state;
mod templates;
mod throttle;
mod upload;

pub use catalog::Published;
pub use credentials::{Credentials, FirstRun};
pub use error::AppError;
pub use routes::{app, serve, Access, Route, ROUTES};
pub use state::{AdminParts, AdminState, AfterPublish, GATEWAYS_FOLLOW_WITHIN_MS};
