//! `flashsale worker`: the order worker alone, for scale-out deployments. SIGTERM or Ctrl-C
//! finishes the batch in flight, then exits; what is left stays on the durable queue.

use crate::stack::{Parts, Stack};
use flashsale_core::Config;

pub async fn run(config: &Config) -> anyhow::Result<()> {
    let stack = Stack::start_parts(
        config,
        Parts {
            gateway: false,
            worker: true,
        },
    )
    .await?;
    let stop = super::shutdown_signal();
    super::up::announce_stack(&stack);
    tracing::info!(queue = %config.queue_name, "worker draining orders");
    stop.await;
    tracing::info!("finishing the batch in flight");
    stack.shutdown().await
}
