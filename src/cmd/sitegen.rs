//! `flashsale sitegen`: render the catalogue into dist/.

use flashsale_core::{Config, Db};

pub async fn run(config: &Config) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url).await?;
    db.migrate().await?;
    let products = db.list_products().await?;
    let site = flashsale_sitegen::SiteOptions {
        dist: config.dist.clone(),
        cooldown_secs: config.cooldown_secs,
        shop_name: config.shop_name.clone(),
    };
    let summary =
        tokio::task::spawn_blocking(move || flashsale_sitegen::render_site(&products, &site))
            .await??;
    println!(
        "rendered {} pages, {} unchanged, removed {}, in {:.1?} into {}",
        summary.rendered,
        summary.unchanged,
        summary.removed,
        summary.elapsed,
        config.dist.display()
    );
    Ok(())
}
