//! The admin through its router, as a browser and a script would use it (no socket: each
//! request goes through `app(state)`), on a real SQLite database and the memory stock store.

mod api;
mod login;
mod orders;
mod products;
// Waiting rooms: the fields, live rate changes, the dashboard's numbers.
mod queue;
// The waiting room's fields, column, pause panel and dashboard numbers.
mod room_pages;
mod routes;
mod slow_clients;
// Image uploads: checked by content and size, published by the next republish.
mod uploads;
mod util;
