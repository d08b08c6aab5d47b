//! End-to-end tests: the whole shop started in-process (`Stack`), spoken to over real sockets.

// Starting shops, shoppers and raw requests.
mod util;

// Register, log in, log out, and the form errors.
mod accounts;
// The Buy button's every answer, and order status.
mod buy;
// A shopper's own orders (GET /orders), newest first, page by page.
mod orders;
// Static pages: types, caching, and nothing outside dist/.
mod static_site;
// The waiting room: joining, challenges, status, and who may Buy a queued product.
mod queue;
// Hundreds of shoppers at once against a small stock.
mod storm;
// Stopping the shop loses no accepted order.
mod shutdown;
// `flashsale up` starts the admin and prints its credentials once.
mod admin;
// Weak secrets refused at start; a shared ring config starts every command.
mod secrets;
// Logout, log out everywhere, password change and key rotation end or keep sessions.
mod sessions;
// Password guessing slowed, weak passwords refused, cross-site posts refused.
mod throttle;
// The logs: plain text in a file, no cookies, no ERROR for a client that hung up.
mod logs;
// `flashsale up` SIGKILLed mid-storm keeps every 202.
mod crash;
// `flashsale backup` on a live shop.
mod backup;
