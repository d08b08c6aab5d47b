//! `flashsale up`: the whole shop in one process.

use crate::stack::Stack;
use flashsale_core::Config;

pub async fn run(config: &Config) -> anyhow::Result<()> {
    let stack = Stack::start(config).await?;
    println!();
    println!("  Flashsale is up.");
    println!("  Shop:     {}/", stack.gateway_url);
    println!(
        "  Database: {}",
        flashsale_core::config::redact_url(&config.database_url)
    );
    println!("  Site:     {}/", config.dist.display());
    println!("  Admin:    not built yet (see the admin issue)");
    println!("  Ctrl-C stops it; accepted orders are written before it exits.");
    println!();
    super::shutdown_signal().await;
    tracing::info!("shutting down");
    stack.shutdown().await?;
    tracing::info!("stopped cleanly");
    Ok(())
}
