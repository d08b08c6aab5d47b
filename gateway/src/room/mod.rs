//! The waiting room at the gateway: challenges, joins, status and the admission check of a
//! queued product's Buy (DESIGN.md, "The waiting room").
//!
//! The line lives in the store (`flashsale_core::waiting_room`); this node keeps what it needs
//! to answer in memory:
//! - each queued product's line (its rate schedule, size and whether it is drawn), refreshed
//!   in the background every [`REFRESH_EVERY`], so status and Buy compute the serving
//!   position without a store call;
//! - the places of the shoppers it owns: a position never changes once given, so it is
//!   cached for good, and only a shopper this node has never seen costs one store lookup.
//!
//! When the line cannot be refreshed for [`STALE_AFTER`] (the store is unreachable), join,
//! status and a queued product's Buy answer `unavailable`: the room never lets everyone in.
//!
//! `cache` keeps the lines and places in memory; `shopper` answers a shopper's status and join.

mod cache;
mod shopper;
#[cfg(test)]
mod tests;

pub use shopper::Status;

use crate::reply::Reply;
use cache::{Cached, LineView};
use dashmap::DashMap;
use flashsale_core::domain::Product;
use flashsale_core::waiting_room::{ChallengeKey, Line, LineStart, Place, WaitingRoom};
use flashsale_core::Config;
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How often every queued product's line is read from the store.
pub const REFRESH_EVERY: Duration = Duration::from_millis(400);
/// A line not refreshed for this long is not trusted: answers become `unavailable`.
pub const STALE_AFTER: Duration = Duration::from_secs(3);
/// How long "not in this line" is remembered. A join through this node (the shopper's owner)
/// updates it at once; only a join through another node (the ring changed meanwhile) is
/// seen this late.
const ABSENT_FOR: Duration = Duration::from_secs(5);
/// How long a challenge may take to solve.
pub const CHALLENGE_SECS: i64 = 300;

/// The waiting room's settings, from config.
#[derive(Debug, Clone, Copy)]
pub struct RoomSettings {
    pub prequeue_secs: i64,
    pub pass_secs: i64,
    pub difficulty: u8,
    pub register_difficulty: u8,
}

impl RoomSettings {
    pub fn from_config(config: &Config) -> RoomSettings {
        RoomSettings {
            prequeue_secs: i64::try_from(config.queue_prequeue_secs).unwrap_or(i64::MAX),
            pass_secs: i64::try_from(config.queue_pass_secs).unwrap_or(i64::MAX),
            difficulty: config.queue_pow_difficulty,
            register_difficulty: config.register_pow_difficulty,
        }
    }
}

/// What a [`Room`] is built from.
pub struct RoomParts {
    pub store: Arc<dyn WaitingRoom>,
    /// Derived from the cookie secret: every gateway of a ring accepts the others' challenges.
    pub key: ChallengeKey,
    pub settings: RoomSettings,
}

impl RoomParts {
    /// Waiting rooms in this process with the default settings, for a gateway that sells no
    /// queued product (benchmarks, tests of other things).
    pub fn in_memory(secret: &[u8]) -> RoomParts {
        RoomParts {
            store: Arc::new(flashsale_core::waiting_room::MemoryRoom::new()),
            key: ChallengeKey::derive(secret),
            settings: RoomSettings::from_config(&Config::default()),
        }
    }
}

/// Where a product's line stands at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineState {
    Closed,
    Prequeue,
    Queueing,
    Ended,
}

impl LineState {
    pub fn as_str(self) -> &'static str {
        match self {
            LineState::Closed => "closed",
            LineState::Prequeue => "prequeue",
            LineState::Queueing => "queueing",
            LineState::Ended => "ended",
        }
    }
}

/// The answer to "may this shopper Buy this queued product now?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    NotAdmitted,
    Unavailable,
}

pub struct Room {
    store: Arc<dyn WaitingRoom>,
    key: ChallengeKey,
    settings: RoomSettings,
    lines: RwLock<HashMap<i64, Arc<LineView>>>,
    places: DashMap<(i64, i64), Cached>,
    /// Challenges refused since the last refresh, per product, flushed to the store's count.
    refused: DashMap<i64, AtomicU64>,
}

/// The scope a product's challenges are bound to.
fn scope(product_id: i64) -> String {
    format!("q{product_id}")
}

impl Room {
    pub fn new(parts: RoomParts) -> Room {
        Room {
            store: parts.store,
            key: parts.key,
            settings: parts.settings,
            lines: RwLock::new(HashMap::new()),
            places: DashMap::new(),
            refused: DashMap::new(),
        }
    }

    pub fn settings(&self) -> RoomSettings {
        self.settings
    }

    pub fn key(&self) -> &ChallengeKey {
        &self.key
    }

    pub fn store(&self) -> &Arc<dyn WaitingRoom> {
        &self.store
    }

    /// Unix seconds when the product's line opens (0: always open).
    pub fn opens_at(&self, product: &Product) -> i64 {
        product
            .sale_start
            .map_or(0, |s| s.saturating_sub(self.settings.prequeue_secs))
    }

    pub fn state(&self, product: &Product, now_ms: i64, sold_out: bool) -> LineState {
        let now = now_ms.div_euclid(1000);
        if sold_out || product.sale_end.is_some_and(|end| now >= end) {
            return LineState::Ended;
        }
        match product.sale_start {
            None => LineState::Queueing,
            Some(start) if now_ms >= start.saturating_mul(1000) => LineState::Queueing,
            Some(_) if now >= self.opens_at(product) => LineState::Prequeue,
            Some(_) => LineState::Closed,
        }
    }

    /// Where the line starts admitting: `saleStart`, or now for a product without one (its
    /// line starts with its first join or refresh).
    fn line_start(product: &Product, now_ms: i64) -> LineStart {
        LineStart {
            start_ms: product
                .sale_start
                .map_or(now_ms, |s| s.saturating_mul(1000)),
            rate: product.admit_per_second,
        }
    }

    /// Whether the line's start has passed (it draws and admits from then).
    fn due(product: &Product, now_ms: i64) -> bool {
        product
            .sale_start
            .is_none_or(|s| now_ms >= s.saturating_mul(1000))
    }

    /// Whether the shopper may Buy the queued `product` now: admitted, and within
    /// `admittedUntil`. No store call when this node knows the shopper's place.
    pub async fn admission(&self, product: &Product, user_id: i64, now_ms: i64) -> Admission {
        let Some(view) = self.line(product, now_ms).await else {
            return Admission::Unavailable;
        };
        match self.place(product.id, user_id, view.line.drawn).await {
            Ok(Some(place)) => {
                if self.admitted(&view.line, place, now_ms).0 {
                    Admission::Admitted
                } else {
                    Admission::NotAdmitted
                }
            }
            Ok(None) => Admission::NotAdmitted,
            Err(e) => {
                tracing::warn!(product_id = product.id, error = %e, "could not read a place; answering unavailable");
                Admission::Unavailable
            }
        }
    }

    /// (admitted now, admitted at) of a place.
    fn admitted(&self, line: &Line, place: Place, now_ms: i64) -> (bool, Option<i64>) {
        let Some(position) = place.position else {
            return (false, None);
        };
        let at = line
            .schedule
            .admitted_at(position)
            .map(|at| at.max(place.joined_ms));
        let admitted =
            at.is_some_and(|at| at <= now_ms && now_ms < at + self.settings.pass_secs * 1000);
        (admitted, at)
    }
}

pub fn refusal(status: u16, word: &'static str) -> Reply {
    Reply::json(status, json!({"result": word})).result_word(word)
}
