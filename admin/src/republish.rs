//! Republishing from the admin: a `Site` kept open between republishes, so one edited
//! product renders its page and the catalogue page listing it, not a walk over every page.
//!
//! Each Republish reads the catalogue from the database (the worker lowers stock as orders are
//! recorded, and pages show the stock, so edits made elsewhere count too) and compares it with
//! what this admin last published: only the products that differ, and those gone, are handed
//! to the site. If another process published `dist/` since (`flashsale sitegen`, another
//! admin), the open site is stale: it is opened again and compares every page, as a first
//! Republish does.

use flashsale_core::domain::Product;
use flashsale_sitegen::{RenderSummary, Site, SiteOptions, SitegenError};
use std::collections::HashMap;

/// The site this admin publishes, and the catalogue it last published to it.
pub struct OpenSite {
    site: Site,
    published: HashMap<i64, Product>,
}

/// Publishes `products` (the whole catalogue) through `open`, opening the site when there is
/// none yet or when another process published since.
pub fn republish(
    open: &mut Option<OpenSite>,
    options: &SiteOptions,
    products: Vec<Product>,
) -> Result<RenderSummary, SitegenError> {
    if let Some(current) = open.as_mut().filter(|o| o.site.is_current()) {
        let mut changed = Vec::new();
        let mut seen = HashMap::with_capacity(products.len());
        for product in products {
            if current.published.get(&product.id) != Some(&product) {
                changed.push(product.clone());
            }
            seen.insert(product.id, product);
        }
        let removed: Vec<i64> = current
            .published
            .keys()
            .filter(|id| !seen.contains_key(id))
            .copied()
            .collect();
        let summary = current.site.publish_changes(&changed, &removed);
        // Whatever happened, the next Republish compares against what the database had now
        // only if this one went through; otherwise it starts over.
        match summary {
            Ok(summary) => {
                current.published = seen;
                return Ok(summary);
            }
            Err(e) => {
                *open = None;
                return Err(e);
            }
        }
    }
    *open = None;
    let mut site = Site::open(options.clone())?;
    let summary = site.publish(&products)?;
    *open = Some(OpenSite {
        site,
        published: products.into_iter().map(|p| (p.id, p)).collect(),
    });
    Ok(summary)
}
