//! The admin through its router, as a browser and a script would use it (no socket: each
//! request goes through `app(state)`), on a real SQLite database and the memory stock store.

mod api;
mod login;
mod orders;
mod products;
mod routes;
mod slow_clients;
mod util;
