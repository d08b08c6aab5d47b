//! `flashsale migrate`: create or upgrade the schema.

use flashsale_core::{Config, Db};

pub async fn run(config: &Config) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url).await?;
    db.migrate().await?;
    println!(
        "schema up to date on {}",
        flashsale_core::config::redact_url(&config.database_url)
    );
    Ok(())
}
