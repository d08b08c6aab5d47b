//! `flashsale admin`: the back-office alone, for scale-out deployments.

use crate::backends;
use crate::stack::{connect_db, start_admin};
use flashsale_core::Config;

pub async fn run(config: &Config) -> anyhow::Result<()> {
    if backends::is_memory(&config.stock_url) {
        tracing::warn!(
            "stock_url is memory:, so this admin's stock store is its own: stock edits will not \
             reach the gateways' reservations; set stock_url to the shop's redis://… (or use \
             `flashsale up`, which runs the admin beside the gateway)"
        );
    }
    let db = connect_db(config).await?;
    let stock = backends::stock_store(config).await?;
    let room = backends::waiting_room(config).await?;
    let admin = start_admin(config, db.clone(), stock, room, None).await?;
    let stop = super::shutdown_signal();
    super::announce("admin", &admin.addr);
    super::up::print_admin(&admin, config);
    stop.await;
    tracing::info!("shutting down");
    admin.stop().await;
    db.close().await;
    Ok(())
}
