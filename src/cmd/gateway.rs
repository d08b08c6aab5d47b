//! `flashsale gateway`: the gateway alone, for scale-out deployments. SIGHUP reloads the ring's
//! member list from the config file without a restart; SIGTERM or Ctrl-C stops it.

use crate::stack::{Parts, Stack};
use flashsale_core::Config;
use std::path::Path;

pub async fn run(config: &Config, file: Option<&Path>) -> anyhow::Result<()> {
    let stack = Stack::start_parts(
        config,
        Parts {
            gateway: true,
            worker: false,
        },
    )
    .await?;
    let stop = super::shutdown_signal();
    tokio::pin!(stop);
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    super::up::announce_stack(&stack);
    say!("gateway listening on {}", stack.gateway_url);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = hangup.recv() => reload_ring(&stack, config, file),
        }
    }
    tracing::info!("shutting down");
    stack.shutdown().await
}

/// Applies the member list of the config as it is now; a bad config is logged and ignored,
/// the running ring stays.
fn reload_ring(stack: &Stack, running: &Config, file: Option<&Path>) {
    let fresh = match Config::load(file) {
        Ok(fresh) => fresh,
        Err(e) => {
            tracing::error!(error = %e, "SIGHUP: the config does not load; the ring is unchanged");
            return;
        }
    };
    if let Err(e) = fresh.ring_check() {
        tracing::error!(error = %e, "SIGHUP: this node cannot join the new ring; the ring is unchanged");
        return;
    }
    if fresh.ring_self() != running.ring_self() {
        tracing::error!("SIGHUP: this node's own name changed; restart it instead");
        return;
    }
    match stack.set_ring_members(&fresh.ring_members(), fresh.virtual_nodes) {
        Ok(()) => {}
        Err(e) => tracing::error!(error = %e, "SIGHUP: the ring is unchanged"),
    }
}
