//! flashsale-sitegen: the catalogue rendered ahead of time into a static site.
//!
//! Browsing must cost the shop nothing, so every page a shopper reads is a file in `dist/`
//! that nginx, a CDN or the gateway can serve. The pipeline, one module per step:
//!
//! - `theme`: the tera templates and static assets (compiled in from `site-templates/`, or a
//!   directory), assets under content-hashed names that templates reach through `asset()`;
//! - `view`: domain types -> view structs shaped for the templates (prices as text,
//!   times as RFC 3339, image URLs vetted);
//! - `site`: [`Site`] and [`render_site`]: what changed since the manifest, rendered in
//!   parallel, published in an order that never links to a missing file; cut along its own
//!   pipeline (`plan`, `render`, `run`, and `ledger`, its copy of the manifest);
//! - `uploads`: the admin's uploaded images, published beside the theme's;
//! - `compress`: the `.gz` and `.br` twins of every text file;
//! - `publish`: bytes -> files, each swapped in with a rename, one publish at a time;
//! - `progress`: the terminal progress bar;
//! - `error`: [`SitegenError`], which always names the page or path that failed.
//!
//! The manifest's format, and reading it back, live in `flashsale_core::site_manifest`,
//! shared with the gateway.

mod compress;
mod error;
mod progress;
mod publish;
mod site;
mod theme;
mod uploads;
mod view;

pub use error::SitegenError;
pub use site::{render_site, RenderSummary, Site, SiteOptions, PAGE_SIZE};
pub use uploads::UPLOADS;
pub use view::format_price;
