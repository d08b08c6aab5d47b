//! `flashsale gateway`: the gateway alone, for scale-out deployments.

use crate::stack::{Parts, Stack};
use flashsale_core::Config;

pub async fn run(config: &Config) -> anyhow::Result<()> {
    let stack = Stack::start_parts(
        config,
        Parts {
            gateway: true,
            worker: false,
        },
    )
    .await?;
    println!("gateway listening on {}", stack.gateway_url);
    super::shutdown_signal().await;
    tracing::info!("shutting down");
    stack.shutdown().await
}
