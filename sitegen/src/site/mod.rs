//! [`Site`]: catalogue -> views -> tera -> files in `dist/`, rendering only what changed.
//!
//! Every output (page, asset, sitemap) has an *input fingerprint*: a hash of what it is made
//! from (its product's view, the theme, the site options). The manifest remembers the
//! fingerprint each file on disk was made from, so a rerun renders exactly the outputs whose
//! fingerprint moved, and removes the outputs that no longer exist.
//!
//! Order of a publish, so that a shopper reading `dist/` file by file never follows a link to
//! something missing: assets, product pages, catalogue pages, fixed pages, sitemap, then the
//! manifest (which makes the publish whole for the gateway), and only then removals. Assets
//! of the previous publish are kept one publish longer, for pages still cached that name them.
//!
//! The pipeline, one file per step: `plan` (which outputs a publish has, and the input
//! fingerprint of each), `render` (one output's bytes and compressed twins), `run` (render
//! what changed, write in publish order, decide what goes) and `ledger` (the manifest this
//! `Site` keeps of what `dist/` holds).

mod ledger;
mod plan;
mod render;
mod run;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flashsale_core::domain::Product;
use flashsale_core::site_manifest::{self as manifest, FileEntry, ShardEntry};
use rayon::prelude::*;
use xxhash_rust::xxh3::Xxh3;

use crate::publish::PublishLock;
use crate::theme::{Theme, FIXED_PAGES};
use crate::view::{product_page, ProductView};
use crate::SitegenError;
use plan::{Job, Scope, What};

/// Products per catalogue page.
pub const PAGE_SIZE: usize = 24;
/// URLs per sitemap file (the sitemap protocol's limit); more make `sitemap.xml` an index.
const SITEMAP_URLS: usize = 50_000;
/// Bumped when the output format changes, so every page is rendered again.
const FORMAT: u64 = 1;
/// `queue_prequeue_secs` unless the config says otherwise (DESIGN.md's default).
pub const DEFAULT_PREQUEUE_SECS: u64 = 900;
/// The input fingerprint of an asset kept from an earlier publish for cached pages.
const RETIRED: u64 = 0;

/// Where and how to render.
#[derive(Debug, Clone)]
pub struct SiteOptions {
    /// The site's root directory; created if missing.
    pub dist: PathBuf,
    /// The per-shopper Buy cooldown the product pages count down (the server enforces it).
    pub cooldown_secs: u64,
    /// How long before `saleStart` a waiting room's line opens (`queue_prequeue_secs`): the
    /// product page says when, even to a shopper who is not signed in.
    pub queue_prequeue_secs: u64,
    /// Shown in every page's title and navigation bar.
    pub shop_name: String,
    /// ISO 4217 code prices are written in ("$199.00", "¥199").
    pub currency: String,
    /// The public address of the shop (`https://shop.example`), for the sitemap.
    pub site_url: String,
    /// A theme directory to use instead of the built-in `site-templates/`.
    pub templates: Option<PathBuf>,
    /// Draw a progress bar on the terminal while rendering many pages.
    pub progress: bool,
    /// Ignore the manifest and render everything.
    pub full: bool,
    /// Write `.gz` and `.br` twins of text files (off when a CDN compresses anyway).
    pub compress: bool,
    /// The admin's uploaded images, published under `static/img/uploads/` (see `uploads`);
    /// none when unset.
    pub uploads: Option<PathBuf>,
}

impl SiteOptions {
    pub fn new(dist: impl Into<PathBuf>, cooldown_secs: u64, shop_name: impl Into<String>) -> Self {
        SiteOptions {
            dist: dist.into(),
            cooldown_secs,
            queue_prequeue_secs: DEFAULT_PREQUEUE_SECS,
            shop_name: shop_name.into(),
            currency: "USD".to_owned(),
            site_url: String::new(),
            templates: None,
            progress: false,
            full: false,
            compress: true,
            uploads: None,
        }
    }
}

/// What a render did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderSummary {
    /// Outputs (pages, assets, sitemap) written because they are new or their inputs changed.
    pub rendered: usize,
    /// Outputs left alone because their inputs did not change.
    pub unchanged: usize,
    /// Outputs removed: pages of products gone from the catalogue, retired assets.
    pub removed: usize,
    /// The outputs written or removed, as paths relative to `dist` (`product/42.html`);
    /// their `.gz` / `.br` twins are implied.
    pub changed: Vec<String>,
    pub elapsed: Duration,
}

/// Renders the whole shop for `products` into `opts.dist`, incrementally.
pub fn render_site(
    products: &[Product],
    opts: &SiteOptions,
) -> Result<RenderSummary, SitegenError> {
    Site::open(opts.clone())?.publish(products)
}

/// A site kept open between publishes: the admin holds one, so republishing one edited
/// product renders that product's page and its catalogue page, and nothing else.
pub struct Site {
    opts: SiteOptions,
    theme: Theme,
    /// Fingerprint of the theme and the options: part of every page's input.
    base: u64,
    /// The manifest: shard -> path -> entry.
    shards: BTreeMap<String, BTreeMap<String, FileEntry>>,
    shard_meta: BTreeMap<String, ShardEntry>,
    /// The catalogue of the last publish, by id; `None` until a whole catalogue is published.
    catalogue: Option<BTreeMap<i64, Item>>,
    /// Content hash of the top-level manifest as this `Site` last read or wrote it (`None`:
    /// there was none): another process publishing since shows as a different one.
    top_seen: Option<u64>,
}

struct Item {
    view: ProductView,
    input: u64,
}
impl Site {
    /// Loads the theme and the manifest of what `opts.dist` already holds.
    pub fn open(opts: SiteOptions) -> Result<Site, SitegenError> {
        let theme = match &opts.templates {
            Some(dir) => Theme::from_dir(dir)?,
            None => Theme::builtin()?,
        };
        let mut base = Xxh3::new();
        base.update(&FORMAT.to_le_bytes());
        base.update(&theme.fingerprint.to_le_bytes());
        base.update(opts.shop_name.as_bytes());
        base.update(&[0]);
        base.update(opts.site_url.as_bytes());
        base.update(&[0]);
        base.update(opts.currency.as_bytes());
        base.update(&opts.cooldown_secs.to_le_bytes());
        base.update(&opts.queue_prequeue_secs.to_le_bytes());
        base.update(&[u8::from(opts.compress)]);
        let mut site = Site {
            base: base.digest(),
            theme,
            shards: BTreeMap::new(),
            shard_meta: BTreeMap::new(),
            catalogue: None,
            top_seen: None,
            opts,
        };
        if !site.opts.full {
            site.load_manifest()?;
        }
        Ok(site)
    }

    pub fn dist(&self) -> &Path {
        &self.opts.dist
    }

    /// Whether `dist/` still holds this `Site`'s last publish. False when another process (the
    /// CLI, another admin) published since, or the manifest is gone: what this `Site` knows
    /// of the pages is stale then, and it must be opened again before it publishes.
    pub fn is_current(&self) -> bool {
        let on_disk = std::fs::read(self.opts.dist.join(manifest::TOP))
            .ok()
            .map(|bytes| manifest::content_hash(&bytes));
        on_disk.is_some() && on_disk == self.top_seen
    }

    /// Publishes the whole catalogue: renders what changed, removes what is gone.
    pub fn publish(&mut self, products: &[Product]) -> Result<RenderSummary, SitegenError> {
        let started = Instant::now();
        let _lock = PublishLock::acquire(&self.opts.dist.join(manifest::LOCK))?;
        let mut seen = HashSet::with_capacity(products.len());
        if let Some(p) = products.iter().find(|p| !seen.insert(p.id)) {
            return Err(SitegenError::DuplicateProduct { id: p.id });
        }
        let items: Vec<(i64, Item)> = products
            .par_iter()
            .map(|p| Ok((p.id, self.item(p)?)))
            .collect::<Result<_, SitegenError>>()?;
        self.catalogue = Some(items.into_iter().collect());

        let mut jobs = self.asset_jobs();
        jobs.extend(self.upload_jobs()?);
        jobs.extend(self.product_jobs(None));
        jobs.extend(self.catalogue_jobs());
        jobs.extend(FIXED_PAGES.iter().map(|&template| Job {
            path: template.to_owned(),
            input: self.base,
            what: What::Fixed { template },
        }));
        jobs.extend(self.sitemap_jobs());
        self.run(jobs, Scope::Everything, started)
    }

    /// Publishes edits to a catalogue this `Site` has published before: `changed` products
    /// (new or edited) and `removed` ids. Renders only their pages, the catalogue pages that
    /// list them, and the sitemap if the set of products changed.
    pub fn publish_changes(
        &mut self,
        changed: &[Product],
        removed: &[i64],
    ) -> Result<RenderSummary, SitegenError> {
        let started = Instant::now();
        let _lock = PublishLock::acquire(&self.opts.dist.join(manifest::LOCK))?;
        let items: Vec<(i64, Item)> = changed
            .iter()
            .map(|p| Ok((p.id, self.item(p)?)))
            .collect::<Result<_, SitegenError>>()?;
        let Some(catalogue) = self.catalogue.as_mut() else {
            return Err(SitegenError::NoCatalogue);
        };
        // The common case, a shop editing products it has: every page keeps its place, so
        // only the catalogue pages listing the edited products can change, and the sitemap
        // (made from the set of ids) cannot. Found without a walk over every page's inputs.
        let edits_only =
            removed.is_empty() && items.iter().all(|(id, _)| catalogue.contains_key(id));
        for id in removed {
            catalogue.remove(id);
        }
        let ids: Vec<i64> = items.iter().map(|(id, _)| *id).collect();
        catalogue.extend(items);
        // An edit may name an image uploaded since: uploads go out with it.
        let mut jobs = self.upload_jobs()?;
        jobs.extend(self.product_jobs(Some(&ids)));
        if edits_only {
            jobs.extend(self.catalogue_jobs_listing(&ids));
            return self.run(jobs, Scope::Edits, started);
        }
        jobs.extend(self.catalogue_jobs());
        jobs.extend(self.sitemap_jobs());
        let gone: Vec<String> = removed.iter().map(|&id| product_page(id)).collect();
        self.run(jobs, Scope::Catalogue { removed: gone }, started)
    }

    fn item(&self, product: &Product) -> Result<Item, SitegenError> {
        let view = ProductView::new(product, &self.opts, |url| self.theme.hashed_url(url))?;
        let json = serde_json::to_vec(&view).map_err(|e| SitegenError::Template {
            name: product_page(product.id),
            message: e.to_string(),
        })?;
        let mut input = Xxh3::new();
        input.update(&self.base.to_le_bytes());
        input.update(&json);
        Ok(Item {
            view,
            input: input.digest(),
        })
    }
}
