//! Rendering one output: its bytes through the theme's templates, and its `.gz` / `.br`
//! twins when they are smaller.

use tera::Context;

use super::plan::{Job, What};
use super::{Site, PAGE_SIZE, SITEMAP_URLS};
use crate::compress;
use crate::theme::{self, INDEX, PRODUCT, SITEMAP};
use crate::view::{product_page, PagerView, ProductView, SiteView};
use crate::SitegenError;

/// A rendered output and its compressed twins.
pub(super) struct Rendered {
    pub(super) path: String,
    pub(super) input: u64,
    pub(super) phase: u8,
    pub(super) files: Vec<(String, Vec<u8>)>,
}

impl Site {
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

    pub(super) fn base_context(&self) -> Context {
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

    pub(super) fn render(
        &self,
        job: &Job,
        base: &Context,
        listed: &[&ProductView],
    ) -> Result<Rendered, SitegenError> {
        let bytes = match &job.what {
            What::Asset { index } => self.theme.assets[*index].bytes.clone(),
            What::Upload { source } => {
                std::fs::read(source).map_err(SitegenError::io("reading", source))?
            }
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
}
