//! `flashsale audit`: whether the database, the stock store and the queue add up.

use crate::audit::{audit, QueueCounts};
use crate::backends::{self, is_memory};
use anyhow::bail;
use flashsale_core::stock::{MemoryStock, StockStore};
use flashsale_core::Config;
use std::sync::Arc;

pub async fn run(config: &Config) -> anyhow::Result<()> {
    let embedded = is_memory(&config.stock_url);
    if embedded && !is_memory(&config.queue_url) {
        bail!(
            "the in-memory stock store lives inside `flashsale up` and cannot be audited from \
             another process; audit a deployment with stock_url = redis://…"
        );
    }
    let db = crate::stack::connect_db(config).await?;
    let (stock, queue): (Arc<dyn StockStore>, _) = if embedded {
        // Embedded defaults: the store `flashsale up` keeps in memory is rebuilt at every
        // start from the database and its outbox; audit those books, as a restart would load
        // them.
        let stock = Arc::new(MemoryStock::new());
        flashsale_core::stock_sync::load_all_missing(&db, stock.as_ref()).await?;
        let counts = db.outbox_counts().await?;
        say!(
            "stock: in-memory in `flashsale up`; audited as a start rebuilds it from the database"
        );
        let queue = QueueCounts {
            waiting: counts.waiting,
            dead: counts.dead,
        };
        (stock, queue)
    } else {
        let stock = backends::stock_store(config).await?;
        let (waiting, dead) = if is_memory(&config.queue_url) {
            let counts = db.outbox_counts().await?;
            (counts.waiting, counts.dead)
        } else {
            backends::queue_counts(&config.queue_url, &config.queue_name).await?
        };
        (stock, QueueCounts { waiting, dead })
    };
    let report = audit(&db, stock.as_ref(), Some(queue)).await?;
    print!("{report}");
    if !report.consistent() {
        bail!("the shop's books do not add up (see above)");
    }
    Ok(())
}
