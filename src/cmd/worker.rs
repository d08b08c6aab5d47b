//! `flashsale worker`: the order worker alone, for scale-out deployments.

use anyhow::bail;
use flashsale_core::Config;

pub async fn run(config: &Config) -> anyhow::Result<()> {
    // The memory queue lives inside one process: a worker alone can only drain RabbitMQ.
    bail!(
        "`flashsale worker` drains RabbitMQ (queue_url = amqp://…), which is not supported yet; \
         `flashsale up` runs a worker in-process (configured queue_url: {})",
        flashsale_core::config::redact_url(&config.queue_url)
    )
}
