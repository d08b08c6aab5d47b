//! `flashsale gateway`: the gateway alone, for scale-out deployments.

use anyhow::bail;
use flashsale_core::Config;

pub async fn run(config: &Config) -> anyhow::Result<()> {
    // A gateway alone needs a queue that a separate worker drains, and a shared stock store.
    bail!(
        "`flashsale gateway` runs against Redis and RabbitMQ (stock_url = redis://…, queue_url = \
         amqp://…), which are not supported yet; for one process use `flashsale up` (configured \
         stock_url: {}, queue_url: {})",
        config.stock_url,
        flashsale_core::config::redact_url(&config.queue_url)
    )
}
