//! End-to-end tests: the whole shop started in-process (`Stack`), spoken to over real sockets.

// Starting shops, shoppers and raw requests.
mod util;

// Register, log in, log out, and the form errors.
mod accounts;
// The Buy button's every answer, and order status.
mod buy;
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
