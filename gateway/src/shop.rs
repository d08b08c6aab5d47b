//! Everything a gateway node needs to answer requests, shared by all its threads.

use crate::buy::Clock;
use crate::catalog::Catalog;
use crate::cluster::Cluster;
use crate::cooldown::Cooldown;
use crate::error::StartError;
use crate::metrics::Metrics;
use crate::orders::PendingOrders;
use crate::password::Passwords;
use crate::room::{Room, RoomParts};
use crate::sessions::Sessions;
use crate::static_files::StaticFiles;
use crate::throttle::{Limits, Throttle};
use crate::verified::VerifiedTokens;
use flashsale_core::queue::OrderQueue;
use flashsale_core::sessions::SessionStore;
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
    /// Tokens `codec` already verified (revocation is still asked of `sessions`).
    pub verified: VerifiedTokens,
    pub session_ttl: Duration,
    pub catalog: Catalog,
    pub cooldown: Cooldown,
    pub pending: PendingOrders,
    pub passwords: Passwords,
    pub site: StaticFiles,
    pub cluster: Cluster,
    pub metrics: Metrics,
    pub sessions: Sessions,
    pub throttle: Throttle,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Whether cookies carry `Secure` (the shop is reached over HTTPS).
    pub cookie_secure: bool,
    pub room: Room,
    /// What Buy decisions read the time from (the cooldown, the sale window).
    pub clock: Clock,
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
    /// Where revoked sessions are shared (the stock store's home: Redis or memory).
    pub sessions: Arc<dyn SessionStore>,
    pub limits: Limits,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub cookie_secure: bool,
    /// The waiting rooms' store (where the stock lives), challenge key and settings.
    pub room: RoomParts,
}

impl Shop {
    /// Builds the shop and loads the catalogue once, so the first Buy already knows it.
    pub async fn new(parts: ShopParts) -> Result<Arc<Shop>, StartError> {
        Self::with_clock(parts, Clock::default()).await
    }

    /// [`Shop::new`] deciding by `clock`, which an in-process test moves past a cooldown.
    pub async fn with_clock(parts: ShopParts, clock: Clock) -> Result<Arc<Shop>, StartError> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let shop = Shop {
            db: parts.db,
            stock: parts.stock,
            queue: parts.queue,
            codec: parts.codec,
            verified: VerifiedTokens::default(),
            session_ttl: parts.session_ttl,
            catalog: Catalog::new(),
            cooldown: Cooldown::new(parts.cooldown, parts.cooldown_capacity),
            pending: PendingOrders::default(),
            passwords: Passwords::new(threads * 2)?,
            site: StaticFiles::new(parts.dist),
            cluster: parts.cluster,
            metrics: Metrics::default(),
            sessions: Sessions::new(parts.sessions),
            throttle: Throttle::new(parts.limits),
            trusted_proxies: parts.trusted_proxies,
            cookie_secure: parts.cookie_secure,
            room: Room::new(parts.room),
            clock,
        };
        shop.catalog.refresh(&shop.db, shop.stock.as_ref()).await?;
        shop.sessions
            .refresh(flashsale_core::domain::now_unix_ms())
            .await?;
        Ok(Arc::new(shop))
    }
}

impl Shop {
    /// Serves the newest publish of `dist/` and the newest catalogue now, instead of at the
    /// next poll: the admin of the same process calls this before its Republish answers.
    pub async fn follow_publish(self: &Arc<Self>) {
        let shop = self.clone();
        // Reading a publish is file IO: off the async threads.
        match tokio::task::spawn_blocking(move || shop.site.reload()).await {
            Ok(Ok(_)) => {}
            Ok(Err(why)) => {
                tracing::warn!(
                    why,
                    "could not load the new publish; still serving the last one"
                )
            }
            Err(e) => tracing::warn!(error = %e, "site reload task failed"),
        }
        if let Err(e) = self.catalog.refresh(&self.db, self.stock.as_ref()).await {
            tracing::warn!(error = %e, "could not refresh the catalogue; keeping the last one");
        }
    }
}
