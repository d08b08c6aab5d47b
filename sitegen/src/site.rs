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

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flashsale_core::domain::Product;
use flashsale_core::site_manifest::{self as manifest, FileEntry, ShardEntry};
use rayon::prelude::*;
use tera::Context;
use xxhash_rust::xxh3::Xxh3;

use crate::compress;
use crate::progress::Progress;
use crate::publish::{self, PublishLock};
use crate::theme::{self, Theme, FIXED_PAGES, INDEX, PRODUCT, SITEMAP};
use crate::view::{catalogue_page, product_page, PagerView, ProductView, SiteView};
use crate::SitegenError;

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

/// One output a publish may write.
struct Job {
    path: String,
    input: u64,
    what: What,
}

enum What {
    Asset { index: usize },
    Product { id: i64 },
    Catalogue { page: usize, total: usize },
    Fixed { template: &'static str },
    Sitemap { part: Option<usize> },
}

impl What {
    /// Publish order (see the module doc).
    fn phase(&self) -> u8 {
        match self {
            What::Asset { .. } => 0,
            What::Product { .. } => 1,
            What::Catalogue { .. } => 2,
            What::Fixed { .. } => 3,
            What::Sitemap { .. } => 4,
        }
    }
}

/// A rendered output and its compressed twins.
struct Rendered {
    path: String,
    input: u64,
    phase: u8,
    files: Vec<(String, Vec<u8>)>,
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
        let mut jobs = self.product_jobs(Some(&ids));
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

    fn asset_jobs(&self) -> Vec<Job> {
        let mut jobs = Vec::new();
        for (index, asset) in self.theme.assets.iter().enumerate() {
            let input = manifest::content_hash(&asset.bytes);
            for path in [&asset.path, &asset.hashed] {
                jobs.push(Job {
                    path: path.clone(),
                    input,
                    what: What::Asset { index },
                });
            }
        }
        jobs
    }

    /// Jobs for the pages of `only` these products, or of all.
    fn product_jobs(&self, only: Option<&[i64]>) -> Vec<Job> {
        let Some(catalogue) = &self.catalogue else {
            return Vec::new();
        };
        let job = |(&id, item): (&i64, &Item)| Job {
            path: product_page(id),
            input: item.input,
            what: What::Product { id },
        };
        match only {
            Some(ids) => ids
                .iter()
                .filter_map(|id| catalogue.get_key_value(id))
                .map(job)
                .collect(),
            None => catalogue.iter().map(job).collect(),
        }
    }

    /// A job per catalogue page; a page's input is the inputs of the products it lists, so
    /// editing one product touches one catalogue page.
    fn catalogue_jobs(&self) -> Vec<Job> {
        let items: Vec<&Item> = self.catalogue.iter().flat_map(|c| c.values()).collect();
        let total = items.len().div_ceil(PAGE_SIZE).max(1);
        let mut pages = items.chunks(PAGE_SIZE);
        (1..=total)
            .map(|page| self.catalogue_job(page, total, pages.next().unwrap_or_default()))
            .collect()
    }

    /// The jobs of the catalogue pages that list any of `ids` (all in the catalogue).
    fn catalogue_jobs_listing(&self, ids: &[i64]) -> Vec<Job> {
        let Some(catalogue) = &self.catalogue else {
            return Vec::new();
        };
        let total = catalogue.len().div_ceil(PAGE_SIZE).max(1);
        let wanted: HashSet<usize> = ids
            .iter()
            .map(|id| catalogue.range(..id).count() / PAGE_SIZE + 1)
            .collect();
        let mut jobs: Vec<Job> = wanted
            .into_iter()
            .map(|page| {
                let items: Vec<&Item> = catalogue
                    .values()
                    .skip((page - 1) * PAGE_SIZE)
                    .take(PAGE_SIZE)
                    .collect();
                self.catalogue_job(page, total, &items)
            })
            .collect();
        jobs.sort_by(|a, b| a.path.cmp(&b.path));
        jobs
    }

    fn catalogue_job(&self, page: usize, total: usize, items: &[&Item]) -> Job {
        let mut input = Xxh3::new();
        input.update(&self.base.to_le_bytes());
        input.update(&(page as u64).to_le_bytes());
        input.update(&(total as u64).to_le_bytes());
        for item in items {
            input.update(&item.input.to_le_bytes());
        }
        Job {
            path: catalogue_page(page),
            input: input.digest(),
            what: What::Catalogue { page, total },
        }
    }

    /// `sitemap.xml`, and its parts when the shop has more URLs than one sitemap may hold.
    /// Its input is the list of product ids (the URLs follow from them), so an edit that
    /// keeps the set of products leaves it alone.
    fn sitemap_jobs(&self) -> Vec<Job> {
        let mut input = Xxh3::new();
        input.update(&self.base.to_le_bytes());
        let mut count: usize = 0;
        for id in self.catalogue.iter().flat_map(|c| c.keys()) {
            input.update(&id.to_le_bytes());
            count += 1;
        }
        let input = input.digest();
        let urls = count + count.div_ceil(PAGE_SIZE).max(1);
        let parts = urls.div_ceil(SITEMAP_URLS);
        let mut jobs = vec![Job {
            path: SITEMAP.to_owned(),
            input,
            what: What::Sitemap { part: None },
        }];
        if parts > 1 {
            jobs.extend((1..=parts).map(|n| Job {
                path: format!("sitemap-{n}.xml"),
                input,
                what: What::Sitemap { part: Some(n) },
            }));
        }
        jobs
    }

    fn sitemap_urls(&self) -> Vec<String> {
        let base = self.opts.site_url.trim_end_matches('/');
        let count = self.catalogue.as_ref().map_or(0, |c| c.len());
        let pages = count.div_ceil(PAGE_SIZE).max(1);
        let mut urls = Vec::with_capacity(pages + count);
        urls.extend((1..=pages).map(|n| format!("{base}{}", crate::view::catalogue_url(n))));
        urls.extend(
            self.catalogue
                .iter()
                .flat_map(|c| c.keys())
                .map(|id| format!("{base}/{}", product_page(*id))),
        );
        urls
    }

    /// Renders the jobs whose inputs changed, writes them in publish order, records the
    /// manifest, then removes what this publish no longer has.
    fn run(
        &mut self,
        jobs: Vec<Job>,
        scope: Scope,
        started: Instant,
    ) -> Result<RenderSummary, SitegenError> {
        let (todo, unchanged): (Vec<Job>, Vec<Job>) = jobs
            .into_iter()
            .partition(|job| self.entry(&job.path).is_none_or(|e| e.input != job.input));
        let keep: HashSet<&str> = todo
            .iter()
            .chain(&unchanged)
            .map(|j| j.path.as_str())
            .collect();
        let doomed = self.doomed(&scope, &keep);
        let retire: Vec<String> = match scope {
            Scope::Everything => self.retirable(&keep),
            Scope::Catalogue { .. } | Scope::Edits => Vec::new(),
        };

        let progress = Progress::new(self.opts.progress, todo.len() as u64);
        let base_ctx = self.base_context();
        // The catalogue in page order, for catalogue pages to take their slice of.
        let listed: Vec<&ProductView> = if todo
            .iter()
            .any(|j| matches!(j.what, What::Catalogue { .. }))
        {
            self.catalogue
                .iter()
                .flat_map(|c| c.values())
                .map(|i| &i.view)
                .collect()
        } else {
            Vec::new()
        };
        let mut rendered: Vec<Rendered> = todo
            .par_iter()
            .map(|job| {
                let out = self.render(job, &base_ctx, &listed);
                progress.tick();
                out
            })
            .collect::<Result<_, _>>()?;
        progress.finish();
        rendered.sort_by_key(|r| r.phase);

        let dist = self.opts.dist.clone();
        for phase in 0..=4 {
            rendered
                .par_iter()
                .filter(|r| r.phase == phase)
                .flat_map_iter(|r| r.files.iter())
                .try_for_each(|(path, bytes)| publish::write_atomic(&dist.join(path), bytes))?;
        }

        // The manifest: new entries in, gone ones out, retired assets kept with RETIRED.
        let mut dirty = HashSet::new();
        let mut removed_files = Vec::new();
        for r in &rendered {
            for (path, bytes) in &r.files {
                let entry = FileEntry {
                    input: r.input,
                    hash: manifest::content_hash(bytes),
                    len: bytes.len() as u64,
                };
                dirty.insert(self.set_entry(path, Some(entry)));
            }
            // A twin the new bytes did not earn (compression no longer pays) must go.
            for twin in twins(&r.path) {
                if !r.files.iter().any(|(p, _)| *p == twin) && self.entry(&twin).is_some() {
                    dirty.insert(self.set_entry(&twin, None));
                    removed_files.push(twin);
                }
            }
        }
        for path in &retire {
            for file in std::iter::once(path.clone()).chain(twins(path)) {
                if let Some(mut entry) = self.entry(&file).copied() {
                    entry.input = RETIRED;
                    dirty.insert(self.set_entry(&file, Some(entry)));
                }
            }
        }
        for path in &doomed {
            for file in std::iter::once(path.clone()).chain(twins(path)) {
                if self.entry(&file).is_some() {
                    dirty.insert(self.set_entry(&file, None));
                    removed_files.push(file);
                }
            }
        }
        self.write_manifest(&dirty)?;

        for file in &removed_files {
            publish::remove(&dist.join(file))?;
        }
        if let Scope::Everything = scope {
            self.sweep_unlisted_pages()?;
            self.sweep_orphan_shards()?;
        }
        if let Scope::Catalogue { removed } = &scope {
            // Pages of removed products that the manifest never knew (a render by an older
            // version) still go.
            for page in removed {
                for file in std::iter::once(page.clone()).chain(twins(page)) {
                    publish::remove(&dist.join(file))?;
                }
            }
        }

        let mut changed: Vec<String> = rendered.iter().map(|r| r.path.clone()).collect();
        changed.extend(doomed.iter().cloned());
        let summary = RenderSummary {
            rendered: rendered.len(),
            unchanged: unchanged.len(),
            removed: doomed.len(),
            changed,
            elapsed: started.elapsed(),
        };
        tracing::info!(
            dist = %dist.display(),
            rendered = summary.rendered,
            unchanged = summary.unchanged,
            removed = summary.removed,
            elapsed_ms = summary.elapsed.as_millis() as u64,
            "site published"
        );
        Ok(summary)
    }

    /// Outputs the manifest has that this publish does not: whole-site publishes drop
    /// everything not kept (assets retired a publish ago included); catalogue publishes only
    /// pages of removed products and catalogue pages past the new last one.
    fn doomed(&self, scope: &Scope, keep: &HashSet<&str>) -> Vec<String> {
        let primary = |path: &&String| !is_twin(path);
        let known = self.shards.values().flat_map(|s| s.iter());
        match scope {
            Scope::Everything => known
                .filter(|(path, e)| {
                    !keep.contains(path.as_str()) && (e.input == RETIRED || !is_asset(path))
                })
                .map(|(path, _)| path)
                .filter(primary)
                .cloned()
                .collect(),
            // Only the catalogue pages' shards and the removed pages: an edit must not
            // cost a walk over every page of a large site.
            Scope::Catalogue { removed } => {
                let pages = self
                    .shards
                    .iter()
                    .filter(|(name, _)| name.starts_with("page-"))
                    .flat_map(|(_, files)| files.keys())
                    .filter(|path| !is_twin(path) && !keep.contains(path.as_str()));
                let gone = removed.iter().filter(|path| self.entry(path).is_some());
                pages.chain(gone).cloned().collect()
            }
            Scope::Edits => Vec::new(),
        }
    }

    /// Assets of the previous publish that this one replaced: kept one more publish.
    fn retirable(&self, keep: &HashSet<&str>) -> Vec<String> {
        self.shards
            .values()
            .flat_map(|s| s.iter())
            .filter(|(path, e)| {
                e.input != RETIRED
                    && is_asset(path)
                    && !is_twin(path)
                    && !keep.contains(path.as_str())
            })
            .map(|(path, _)| path.clone())
            .collect()
    }

    fn base_context(&self) -> Context {
        let mut ctx = Context::new();
        ctx.insert(
            "site",
            &SiteView {
                shop_name: self.opts.shop_name.clone(),
                cooldown_secs: self.opts.cooldown_secs,
                currency: self.opts.currency.clone(),
                url: self.opts.site_url.trim_end_matches('/').to_owned(),
            },
        );
        ctx
    }

    fn render(
        &self,
        job: &Job,
        base: &Context,
        listed: &[&ProductView],
    ) -> Result<Rendered, SitegenError> {
        let bytes = match &job.what {
            What::Asset { index } => self.theme.assets[*index].bytes.clone(),
            What::Product { id } => {
                let mut ctx = base.clone();
                let item = self
                    .catalogue
                    .as_ref()
                    .and_then(|c| c.get(id))
                    .ok_or(SitegenError::NoCatalogue)?;
                ctx.insert("product", &item.view);
                self.render_template(PRODUCT, &job.path, &ctx)?
            }
            What::Catalogue { page, total } => {
                let views = listed.chunks(PAGE_SIZE).nth(page - 1).unwrap_or_default();
                let mut ctx = base.clone();
                ctx.insert("products", views);
                ctx.insert("pager", &PagerView::new(*page, *total));
                self.render_template(INDEX, &job.path, &ctx)?
            }
            What::Fixed { template } => self.render_template(template, &job.path, base)?,
            What::Sitemap { part } => {
                let urls = self.sitemap_urls();
                let parts = urls.len().div_ceil(SITEMAP_URLS);
                let mut ctx = base.clone();
                match part {
                    None if parts > 1 => {
                        let base_url = self.opts.site_url.trim_end_matches('/');
                        let index: Vec<String> = (1..=parts)
                            .map(|n| format!("{base_url}/sitemap-{n}.xml"))
                            .collect();
                        ctx.insert("sitemaps", &index);
                        ctx.insert("urls", &Vec::<String>::new());
                    }
                    None => {
                        ctx.insert("sitemaps", &Vec::<String>::new());
                        ctx.insert("urls", &urls);
                    }
                    Some(n) => {
                        let chunk: Vec<&String> = urls
                            .iter()
                            .skip((n - 1) * SITEMAP_URLS)
                            .take(SITEMAP_URLS)
                            .collect();
                        ctx.insert("sitemaps", &Vec::<String>::new());
                        ctx.insert("urls", &chunk);
                    }
                }
                self.render_template(SITEMAP, &job.path, &ctx)?
            }
        };
        let mut files = Vec::with_capacity(3);
        if self.opts.compress && compress::is_compressible(&job.path) {
            let gz = compress::gzip(&bytes);
            let br = compress::brotli(&bytes);
            // A twin that is not smaller is not worth a request's Vary.
            if gz.len() < bytes.len() {
                files.push((format!("{}.gz", job.path), gz));
            }
            if br.len() < bytes.len() {
                files.push((format!("{}.br", job.path), br));
            }
        }
        // The plain file last: whoever sees it finds its twins already there.
        files.push((job.path.clone(), bytes));
        Ok(Rendered {
            path: job.path.clone(),
            input: job.input,
            phase: job.what.phase(),
            files,
        })
    }

    fn render_template(
        &self,
        template: &str,
        page: &str,
        ctx: &Context,
    ) -> Result<Vec<u8>, SitegenError> {
        self.theme
            .tera
            .render(template, ctx)
            .map(String::into_bytes)
            .map_err(|e| SitegenError::Render {
                page: page.to_owned(),
                message: theme::error_chain(&e),
            })
    }

    fn entry(&self, path: &str) -> Option<&FileEntry> {
        self.shards.get(&manifest::shard_of(path))?.get(path)
    }

    /// Sets or clears one entry; returns the shard it lives in.
    fn set_entry(&mut self, path: &str, entry: Option<FileEntry>) -> String {
        let shard = manifest::shard_of(path);
        let files = self.shards.entry(shard.clone()).or_default();
        match entry {
            Some(e) => {
                files.insert(path.to_owned(), e);
            }
            None => {
                files.remove(path);
            }
        }
        shard
    }

    fn load_manifest(&mut self) -> Result<(), SitegenError> {
        let dist = &self.opts.dist;
        let top_path = dist.join(manifest::TOP);
        let text = match std::fs::read_to_string(&top_path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(SitegenError::io("reading", &top_path)(e)),
        };
        self.top_seen = Some(manifest::content_hash(text.as_bytes()));
        let damaged = |path: &Path, reason: String| SitegenError::Manifest {
            path: path.to_owned(),
            reason,
        };
        let top = manifest::parse_top(&text).map_err(|e| damaged(&top_path, e.to_string()))?;
        for (name, meta) in &top {
            let path = dist.join(manifest::shard_path(name));
            let text = std::fs::read_to_string(&path).map_err(|e| damaged(&path, e.to_string()))?;
            if manifest::content_hash(text.as_bytes()) != meta.hash {
                return Err(damaged(
                    &path,
                    "its hash is not the one recorded".to_owned(),
                ));
            }
            let files = manifest::parse_shard(&text).map_err(|e| damaged(&path, e.to_string()))?;
            self.shards.insert(name.clone(), files);
        }
        self.shard_meta = top;
        Ok(())
    }

    /// Removes product pages the manifest never knew of whose product is gone: left by a
    /// render without a manifest (`--full`, or a damaged one). Only names this crate writes.
    fn sweep_unlisted_pages(&self) -> Result<(), SitegenError> {
        let dir = self.opts.dist.join("product");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        let catalogue = self.catalogue.as_ref();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(id) = page_id(&name.to_string_lossy()) else {
                continue;
            };
            if !catalogue.is_some_and(|c| c.contains_key(&id)) {
                tracing::debug!(page = %entry.path().display(), "removed page of a product no longer listed");
                publish::remove(&entry.path())?;
            }
        }
        Ok(())
    }

    /// Removes shard files the top-level manifest no longer names.
    fn sweep_orphan_shards(&self) -> Result<(), SitegenError> {
        let dir = self.opts.dist.join(manifest::DIR).join("shards");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let listed = name
                .strip_suffix(".txt")
                .is_some_and(|shard| self.shard_meta.contains_key(shard));
            if !listed && !name.starts_with('.') {
                publish::remove(&entry.path())?;
            }
        }
        Ok(())
    }

    /// Rewrites the shards that changed, then the top-level manifest that names them all.
    fn write_manifest(&mut self, dirty: &HashSet<String>) -> Result<(), SitegenError> {
        let dist = self.opts.dist.clone();
        for name in dirty {
            let path = dist.join(manifest::shard_path(name));
            match self.shards.get(name).filter(|files| !files.is_empty()) {
                Some(files) => {
                    let text = manifest::write_shard(files);
                    publish::write_atomic(&path, text.as_bytes())?;
                    self.shard_meta.insert(
                        name.clone(),
                        ShardEntry {
                            hash: manifest::content_hash(text.as_bytes()),
                            len: text.len() as u64,
                        },
                    );
                }
                None => {
                    self.shards.remove(name);
                    self.shard_meta.remove(name);
                    publish::remove(&path)?;
                }
            }
        }
        let top = manifest::write_top(&self.shard_meta);
        publish::write_atomic(&dist.join(manifest::TOP), top.as_bytes())?;
        self.top_seen = Some(manifest::content_hash(top.as_bytes()));
        Ok(())
    }
}

/// Which outputs a publish is responsible for removing.
enum Scope {
    /// A whole catalogue: whatever it does not have goes.
    Everything,
    /// Products added or removed: the removed pages and surplus catalogue pages go.
    Catalogue { removed: Vec<String> },
    /// Products edited in place: nothing goes.
    Edits,
}

fn twins(path: &str) -> [String; 2] {
    [format!("{path}.gz"), format!("{path}.br")]
}

fn is_twin(path: &str) -> bool {
    path.ends_with(".gz") || path.ends_with(".br")
}

fn is_asset(path: &str) -> bool {
    path.starts_with("static/")
}

/// The id of a product page file as this crate writes it (`42.html`, `42.html.gz`), so a
/// stray file (`042.html`, `notes.txt`) is never mistaken for one.
fn page_id(file_name: &str) -> Option<i64> {
    let stem = file_name
        .trim_end_matches(".gz")
        .trim_end_matches(".br")
        .strip_suffix(".html")?;
    let id: i64 = stem.parse().ok()?;
    (id.to_string() == stem).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_names_parse_only_in_canonical_form() {
        assert_eq!(page_id("42.html"), Some(42));
        assert_eq!(page_id("42.html.br"), Some(42));
        assert_eq!(page_id("-3.html"), Some(-3));
        assert_eq!(page_id("042.html"), None);
        assert_eq!(page_id("+42.html"), None);
        assert_eq!(page_id("42.htm"), None);
        assert_eq!(page_id(".42.html.1-0.tmp"), None);
    }
}
