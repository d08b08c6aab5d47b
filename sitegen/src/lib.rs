//! flashsale-sitegen: the catalogue rendered ahead of time into a static site.
//!
//! Browsing must cost the shop nothing, so every page a shopper reads is a file in `dist/`
//! that nginx, a CDN or the gateway can serve. The pipeline, one module per step:
//!
//! - `view`: domain types -> view structs shaped for the templates (prices as text,
//!   times as RFC 3339, image URLs vetted);
//! - `templates`: the tera templates and static assets of `site-templates/`, compiled into
//!   the binary so the shop runs from any working directory;
//! - `publish`: bytes -> files, each swapped in with a rename so a reader never sees half
//!   a page, and pages of products gone from the catalogue removed;
//! - `site`: [`render_site`], which runs the three in order;
//! - `error`: [`SitegenError`], which always names the page or path that failed.

mod error;
mod publish;
mod site;
mod templates;
mod view;

pub use error::SitegenError;
pub use site::{render_site, RenderSummary, SiteOptions};
pub use view::format_price;
