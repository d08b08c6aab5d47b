//! `render_site`: catalogue -> views -> tera -> files in `dist/`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use flashsale_core::domain::Product;
use tera::{Context, Tera};

use crate::publish::{self, Written};
use crate::templates::{self, FIXED_PAGES, INDEX, PRODUCT};
use crate::view::{product_page, ProductView, SiteView};
use crate::SitegenError;

/// Where and how to render.
#[derive(Debug, Clone)]
pub struct SiteOptions {
    /// The site's root directory; created if missing.
    pub dist: PathBuf,
    /// The per-shopper Buy cooldown the product pages count down (the server enforces it).
    pub cooldown_secs: u64,
    /// Shown in every page's title and navigation bar.
    pub shop_name: String,
}

impl SiteOptions {
    pub fn new(dist: impl Into<PathBuf>, cooldown_secs: u64, shop_name: impl Into<String>) -> Self {
        SiteOptions {
            dist: dist.into(),
            cooldown_secs,
            shop_name: shop_name.into(),
        }
    }
}

/// What a render did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderSummary {
    /// Pages written because they are new or their bytes changed.
    pub rendered: usize,
    /// Pages left alone because they already held the right bytes.
    pub unchanged: usize,
    /// Product pages removed because their product is no longer in the catalogue.
    pub removed: usize,
    /// The pages written or removed, as paths relative to `dist` (`product/42.html`).
    pub changed: Vec<String>,
    pub elapsed: Duration,
}

/// Renders the whole shop for `products` into `opts.dist`.
///
/// Every file is swapped in atomically, and a file whose bytes would not change is not
/// touched, so rerunning after a small edit rewrites only the pages that edit affects.
/// Product pages of products missing from `products` are removed last, after the catalogue
/// page has stopped linking to them.
pub fn render_site(
    products: &[Product],
    opts: &SiteOptions,
) -> Result<RenderSummary, SitegenError> {
    let started = Instant::now();
    let tera = templates::load()?;
    let views = product_views(products)?;
    let dist = opts.dist.as_path();
    for dir in ["product", "user", "static/img"] {
        publish::ensure_dir(&dist.join(dir))?;
    }

    let mut base = Context::new();
    base.insert(
        "site",
        &SiteView {
            shop_name: opts.shop_name.clone(),
            cooldown_secs: opts.cooldown_secs,
        },
    );

    // Assets first, so no page is ever served before the styles and scripts it names.
    for &(name, bytes) in templates::ASSETS {
        publish::write_atomic(&dist.join(name), bytes)?;
    }

    let mut changed = Vec::new();
    let mut unchanged = 0;
    let mut page = |template: &str, out: &str, ctx: &Context| -> Result<(), SitegenError> {
        let html = render(&tera, template, out, ctx)?;
        match publish::write_atomic(&dist.join(out), html.as_bytes())? {
            Written::Replaced => changed.push(out.to_owned()),
            Written::Unchanged => unchanged += 1,
        }
        Ok(())
    };

    for view in &views {
        let mut ctx = base.clone();
        ctx.insert("product", view);
        page(PRODUCT, &product_page(view.id), &ctx)?;
    }
    let mut ctx = base.clone();
    ctx.insert("products", &views);
    page(INDEX, INDEX, &ctx)?;
    for &fixed in FIXED_PAGES {
        page(fixed, fixed, &base)?;
    }

    let keep: HashSet<i64> = views.iter().map(|v| v.id).collect();
    let removed = publish::remove_stale_pages(&dist.join("product"), &keep)?;
    let rendered = changed.len();
    changed.extend(removed.iter().map(|name| format!("product/{name}")));

    let summary = RenderSummary {
        rendered,
        unchanged,
        removed: removed.len(),
        changed,
        elapsed: started.elapsed(),
    };
    tracing::info!(
        dist = %dist.display(),
        rendered,
        unchanged,
        removed = summary.removed,
        elapsed_ms = summary.elapsed.as_millis() as u64,
        "site rendered"
    );
    Ok(summary)
}

/// Views of the catalogue, refusing two products that would share one page.
fn product_views(products: &[Product]) -> Result<Vec<ProductView>, SitegenError> {
    let mut seen = HashSet::with_capacity(products.len());
    products
        .iter()
        .map(|p| {
            if !seen.insert(p.id) {
                return Err(SitegenError::DuplicateProduct { id: p.id });
            }
            ProductView::new(p)
        })
        .collect()
}

fn render(tera: &Tera, template: &str, out: &str, ctx: &Context) -> Result<String, SitegenError> {
    tera.render(template, ctx)
        .map_err(|source| SitegenError::Render {
            page: out.to_owned(),
            source,
        })
}
