//! `flashsale audit`: whether the database, the stock store and the queue add up.

use crate::audit::{audit, QueueCounts};
use crate::backends::{self, is_memory};
use anyhow::bail;
use flashsale_core::Config;

pub async fn run(config: &Config) -> anyhow::Result<()> {
    if is_memory(&config.stock_url) {
        bail!(
            "the in-memory stock store lives inside `flashsale up` and cannot be audited from \
             another process; audit a deployment with stock_url = redis://…"
        );
    }
    let db = crate::stack::connect_db(config).await?;
    let stock = backends::stock_store(config).await?;
    let queue = if is_memory(&config.queue_url) {
        None
    } else {
        let (waiting, dead) = backends::queue_counts(&config.queue_url, &config.queue_name).await?;
        Some(QueueCounts { waiting, dead })
    };
    let report = audit(&db, stock.as_ref(), queue).await?;
    print!("{report}");
    if !report.consistent() {
        bail!("the shop's books do not add up (see above)");
    }
    Ok(())
}
