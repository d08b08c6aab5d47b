//! What every handler shares.

use crate::catalog::Published;
use crate::credentials::Credentials;
use crate::republish::SharedSite;
use crate::session::Sessions;
use crate::templates::Templates;
use crate::throttle::Throttle;
use flashsale_core::stock::StockStore;
use flashsale_core::waiting_room::WaitingRoom;
use flashsale_core::Db;
use flashsale_sitegen::SiteOptions;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::{Mutex, Semaphore};

/// Run after each republish, before it answers: makes the gateways serve what was just
/// written. In one process (`flashsale up`) the gateway reloads the new publish and the
/// catalogue at once, so "Republished" means "live". Gateways in other processes have no hook:
/// they follow on their own within [`GATEWAYS_FOLLOW_WITHIN_MS`].
pub type AfterPublish = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// How soon a gateway in another process serves a new publish: it checks `dist/` every
/// 250 ms, and reloading takes a few milliseconds more.
pub const GATEWAYS_FOLLOW_WITHIN_MS: u64 = 500;

/// What the admin is built from.
pub struct AdminParts {
    pub db: Db,
    /// The same store the gateways reserve from: stock edits reset it.
    pub stock: Arc<dyn StockStore>,
    /// The same waiting rooms the gateways read: rate changes and pauses go there.
    pub room: Arc<dyn WaitingRoom>,
    /// `admitPerSecond` of a product saved without one (`queue_admit_per_second`).
    pub default_admit_per_second: u32,
    /// The shop's time zone (`time_zone`): pages show and take times in it.
    pub time_zone: chrono_tz::Tz,
    /// ISO 4217 code prices are kept in (`currency`): pages, revenue and the CSV name it.
    pub currency: String,
    /// Where and how republishing renders the site.
    pub site: SiteOptions,
    pub credentials: Credentials,
    /// The gateway of this process, when there is one (see [`AfterPublish`]).
    pub after_publish: Option<AfterPublish>,
}

/// Cheap to clone: one shared [`Inner`].
#[derive(Clone)]
pub struct AdminState(Arc<Inner>);

pub struct Inner {
    pub db: Db,
    pub stock: Arc<dyn StockStore>,
    pub room: Arc<dyn WaitingRoom>,
    pub default_admit_per_second: u32,
    pub time_zone: chrono_tz::Tz,
    pub currency: String,
    pub site: SiteOptions,
    pub credentials: Credentials,
    pub after_publish: Option<AfterPublish>,
    pub sessions: Sessions,
    pub throttle: Throttle,
    pub templates: Templates,
    /// Bounds the Argon2 hashes running at once (each takes ~19 MiB and tens of ms).
    pub hashing: Semaphore,
    /// One render at a time, and what the last one did.
    pub last_publish: Mutex<Option<Published>>,
    /// The site kept open between republishes (see `republish`).
    pub open_site: SharedSite,
}

impl AdminState {
    pub fn new(parts: AdminParts) -> Result<Self, tera::Error> {
        Ok(AdminState(Arc::new(Inner {
            sessions: Sessions::new(parts.db.clone()),
            db: parts.db,
            stock: parts.stock,
            room: parts.room,
            default_admit_per_second: parts.default_admit_per_second,
            time_zone: parts.time_zone,
            currency: parts.currency,
            site: parts.site,
            credentials: parts.credentials,
            after_publish: parts.after_publish,
            throttle: Throttle::default(),
            templates: Templates::load()?,
            hashing: Semaphore::new(2),
            last_publish: Mutex::new(None),
            open_site: Arc::default(),
        })))
    }
}

impl Inner {
    /// `cents` in the shop's currency: "$1,299.00".
    pub fn money(&self, cents: i64) -> String {
        flashsale_core::money::format_money(cents, &self.currency)
    }
}

impl std::ops::Deref for AdminState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
