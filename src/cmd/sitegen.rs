//! `flashsale sitegen`: render the catalogue into dist/.

use std::path::PathBuf;

use anyhow::Context;
use flashsale_core::Config;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the site (overrides `dist` of the config).
    #[arg(long, value_name = "DIR")]
    pub dist: Option<PathBuf>,

    /// A theme directory to render with instead of the built-in one: tera templates
    /// (index.html, product.html, order.html, 404.html, user/login.html,
    /// user/register.html, sitemap.xml) and assets under static/.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,

    /// The shop's public address for the sitemap (overrides `site_url` of the config).
    #[arg(long, value_name = "URL")]
    pub site_url: Option<String>,

    /// Ignore the manifest of the last render and write every page again.
    #[arg(long)]
    pub full: bool,

    /// Do not write the .gz and .br twins of text files (when a CDN compresses anyway).
    #[arg(long)]
    pub no_compress: bool,

    /// No progress bar, only the summary line.
    #[arg(long, short)]
    pub quiet: bool,
}

pub async fn run(config: &Config, args: Args) -> anyhow::Result<()> {
    let db = crate::stack::connect_db(config).await?;
    let products = db.list_products().await?;
    let mut site = crate::stack::site_options(config);
    if let Some(dist) = args.dist {
        site.dist = dist;
    }
    if let Some(url) = args.site_url {
        site.site_url = url.trim_end_matches('/').to_owned();
    }
    site.templates = args.templates;
    site.full = args.full;
    site.compress = !args.no_compress;
    site.progress = !args.quiet;
    let dist = site.dist.clone();
    let summary =
        tokio::task::spawn_blocking(move || flashsale_sitegen::render_site(&products, &site))
            .await?
            .with_context(|| format!("could not render the site into {}", dist.display()))?;
    println!(
        "{} rendered, {} unchanged, {} removed in {:.2?} -> {}",
        summary.rendered,
        summary.unchanged,
        summary.removed,
        summary.elapsed,
        dist.display()
    );
    Ok(())
}
