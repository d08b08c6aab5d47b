//! Everything a gateway node needs to answer requests, shared by all its threads.

use crate::catalog::Catalog;
use crate::cluster::Cluster;
use crate::cooldown::Cooldown;
use crate::error::StartError;
use crate::metrics::Metrics;
use crate::orders::PendingOrders;
use crate::password::Passwords;
use crate::room::{Room, RoomParts};
use crate::static_files::StaticFiles;
use flashsale_core::queue::OrderQueue;
use flashsale_core::stock::StockStore;
use flashsale_core::{Db, SignCodec};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub struct Shop {
    pub db: Db,
    pub stock: Arc<dyn StockStore>,
    pub queue: Arc<dyn OrderQueue>,
    pub codec: SignCodec,
    pub session_ttl: Duration,
    pub catalog: Catalog,
    pub cooldown: Cooldown,
    pub pending: PendingOrders,
    pub passwords: Passwords,
    pub site: StaticFiles,
    pub cluster: Cluster,
    pub metrics: Metrics,
    pub room: Room,
}

/// What a [`Shop`] is built from.
pub struct ShopParts {
    pub db: Db,
    pub stock: Arc<dyn StockStore>,
    pub queue: Arc<dyn OrderQueue>,
    pub codec: SignCodec,
    pub session_ttl: Duration,
    pub cooldown: Duration,
    /// Shoppers whose cooldown can run at once: the bound on this memory.
    pub cooldown_capacity: usize,
    pub dist: PathBuf,
    pub cluster: Cluster,
    /// The waiting rooms' store (where the stock lives), challenge key and settings.
    pub room: RoomParts,
}

impl Shop {
    /// Builds the shop and loads the catalogue once, so the first Buy already knows it.
    pub async fn new(parts: ShopParts) -> Result<Arc<Shop>, StartError> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let shop = Shop {
            db: parts.db,
            stock: parts.stock,
            queue: parts.queue,
            codec: parts.codec,
            session_ttl: parts.session_ttl,
            catalog: Catalog::new(),
            cooldown: Cooldown::new(parts.cooldown, parts.cooldown_capacity),
            pending: PendingOrders::default(),
            passwords: Passwords::new(threads * 2)?,
            site: StaticFiles::new(parts.dist),
            cluster: parts.cluster,
            metrics: Metrics::default(),
            room: Room::new(parts.room),
        };
        shop.catalog.refresh(&shop.db, shop.stock.as_ref()).await?;
        Ok(Arc::new(shop))
    }
}
