//! Planning a publish: the outputs it has, each with the fingerprint of its inputs, and
//! which outputs it is responsible for removing.

use std::collections::HashSet;
use std::path::PathBuf;

use flashsale_core::site_manifest as manifest;
use xxhash_rust::xxh3::Xxh3;

use super::{Item, Site, PAGE_SIZE, SITEMAP_URLS};
use crate::theme::SITEMAP;
use crate::uploads;
use crate::view::{catalogue_page, product_page};
use crate::SitegenError;

/// One output a publish may write.
pub(super) struct Job {
    pub(super) path: String,
    pub(super) input: u64,
    pub(super) what: What,
}

pub(super) enum What {
    Asset {
        index: usize,
    },
    /// An image the admin uploaded (see `uploads`), read when it is published.
    Upload {
        source: PathBuf,
    },
    Product {
        id: i64,
    },
    Catalogue {
        page: usize,
        total: usize,
    },
    Fixed {
        template: &'static str,
    },
    Sitemap {
        part: Option<usize>,
    },
}

impl What {
    /// Publish order (see the module doc).
    pub(super) fn phase(&self) -> u8 {
        match self {
            What::Asset { .. } | What::Upload { .. } => 0,
            What::Product { .. } => 1,
            What::Catalogue { .. } => 2,
            What::Fixed { .. } => 3,
            What::Sitemap { .. } => 4,
        }
    }
}

/// Which outputs a publish is responsible for removing.
pub(super) enum Scope {
    /// A whole catalogue: whatever it does not have goes.
    Everything,
    /// Products added or removed: the removed pages and surplus catalogue pages go.
    Catalogue { removed: Vec<String> },
    /// Products edited in place: nothing goes.
    Edits,
}

impl Site {
    pub(super) fn asset_jobs(&self) -> Vec<Job> {
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

    pub(super) fn upload_jobs(&self) -> Result<Vec<Job>, SitegenError> {
        Ok(uploads::list(self.opts.uploads.as_deref())?
            .into_iter()
            .map(|u| Job {
                path: u.path,
                input: u.input,
                what: What::Upload { source: u.source },
            })
            .collect())
    }

    /// Jobs for the pages of `only` these products, or of all.
    pub(super) fn product_jobs(&self, only: Option<&[i64]>) -> Vec<Job> {
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
    pub(super) fn catalogue_jobs(&self) -> Vec<Job> {
        let items: Vec<&Item> = self.catalogue.iter().flat_map(|c| c.values()).collect();
        let total = items.len().div_ceil(PAGE_SIZE).max(1);
        let mut pages = items.chunks(PAGE_SIZE);
        (1..=total)
            .map(|page| self.catalogue_job(page, total, pages.next().unwrap_or_default()))
            .collect()
    }

    /// The jobs of the catalogue pages that list any of `ids` (all in the catalogue).
    pub(super) fn catalogue_jobs_listing(&self, ids: &[i64]) -> Vec<Job> {
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
    pub(super) fn sitemap_jobs(&self) -> Vec<Job> {
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
}
