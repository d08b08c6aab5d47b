//! What every handler shares.

use crate::credentials::Credentials;
use crate::session::Sessions;
use crate::templates::Templates;
use crate::throttle::Throttle;
use flashsale_core::stock::StockStore;
use flashsale_core::waiting_room::WaitingRoom;
use flashsale_core::Db;
use flashsale_sitegen::{RenderSummary, SiteOptions};
use std::sync::Arc;
use tokio::sync::{Mutex, Semaphore};

/// What the admin is built from.
pub struct AdminParts {
    pub db: Db,
    /// The same store the gateways reserve from: stock edits reset it.
    pub stock: Arc<dyn StockStore>,
    /// The same waiting rooms the gateways read: rate changes and pauses go there.
    pub room: Arc<dyn WaitingRoom>,
    /// `admitPerSecond` of a product saved without one (`queue_admit_per_second`).
    pub default_admit_per_second: u32,
    /// Where and how republishing renders the site.
    pub site: SiteOptions,
    pub credentials: Credentials,
}

/// Cheap to clone: one shared [`Inner`].
#[derive(Clone)]
pub struct AdminState(Arc<Inner>);

pub struct Inner {
    pub db: Db,
    pub stock: Arc<dyn StockStore>,
    pub room: Arc<dyn WaitingRoom>,
    pub default_admit_per_second: u32,
    pub site: SiteOptions,
    pub credentials: Credentials,
    pub sessions: Sessions,
    pub throttle: Throttle,
    pub templates: Templates,
    /// Bounds the Argon2 hashes running at once (each takes ~19 MiB and tens of ms).
    pub hashing: Semaphore,
    /// One render at a time, and what the last one did.
    pub last_publish: Mutex<Option<RenderSummary>>,
}

impl AdminState {
    pub fn new(parts: AdminParts) -> Result<Self, tera::Error> {
        Ok(AdminState(Arc::new(Inner {
            db: parts.db,
            stock: parts.stock,
            room: parts.room,
            default_admit_per_second: parts.default_admit_per_second,
            site: parts.site,
            credentials: parts.credentials,
            sessions: Sessions::default(),
            throttle: Throttle::default(),
            templates: Templates::load()?,
            hashing: Semaphore::new(2),
            last_publish: Mutex::new(None),
        })))
    }
}

impl std::ops::Deref for AdminState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
