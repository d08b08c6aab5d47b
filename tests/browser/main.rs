//! The shop and the back-office in a real browser: headless Chromium driven through
//! chromedriver (WebDriver), against the whole shop started in-process. Each test saves a
//! screenshot under `target/screenshots/` and prints its path.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them); fails loudly
//! without them.

// The shop fixture the end-to-end tests use (not all of it is needed here).
#[allow(dead_code)]
#[path = "../shop/util.rs"]
mod shop;

// chromedriver, the browser session, screenshots, waiting for the page.
mod util;
// axe-core injected into a page: no serious or critical accessibility violation.
mod axe;

// An admin adds a product and republishes; the shop shows it.
mod admin;
// A shopper registers, logs in, buys, and sees the order confirmed; a sold-out product.
mod shopper;
// The storefront: header, account forms, product states, My orders; axe-core on each page.
mod storefront;
// A drop with a waiting room: join, the draw, the wait, the turn, Buy; on a phone too.
mod room;
