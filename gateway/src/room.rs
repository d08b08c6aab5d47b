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

use crate::reply::Reply;
use crate::shop::Shop;
use dashmap::DashMap;
use flashsale_core::domain::Product;
use flashsale_core::waiting_room::{
    ChallengeKey, JoinRequest, Joined, Line, LineStart, Phase, Place, WaitingRoom,
};
use flashsale_core::Config;
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

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

struct LineView {
    line: Line,
    fetched: Instant,
}

enum Cached {
    /// Positioned: never changes.
    Place(Place),
    /// In the prequeue: changes only at the draw, then read once more.
    Prequeue(Place),
    /// Not in line, as of then.
    Absent(Instant),
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

/// A shopper's standing, as `GET /queue/{id}/status` answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub state: LineState,
    pub place: Option<Place>,
    pub ahead: Option<u64>,
    pub admitted: bool,
    pub admitted_until: Option<i64>,
    pub eta_seconds: Option<i64>,
    pub opens_at: i64,
    pub refresh_seconds: i64,
    pub sold_out: bool,
}

impl Status {
    pub fn json(&self) -> serde_json::Value {
        json!({
            "state": self.state.as_str(),
            "joined": self.place.is_some(),
            "position": self.place.and_then(|p| p.position),
            "ahead": self.ahead,
            "admitted": self.admitted,
            "admittedUntil": self.admitted_until,
            "etaSeconds": self.eta_seconds,
            "opensAt": self.opens_at,
            "refreshSeconds": self.refresh_seconds,
            "soldOut": self.sold_out,
        })
    }
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

    /// A challenge for `user_id` to join `product`'s line: `{challenge, difficulty, expiresIn}`.
    pub fn challenge(&self, product_id: i64, user_id: i64, now: i64) -> serde_json::Value {
        let c = self.key.issue(
            &scope(product_id),
            user_id,
            now + CHALLENGE_SECS,
            self.settings.difficulty,
        );
        json!({"challenge": c.text, "difficulty": c.difficulty, "expiresIn": CHALLENGE_SECS})
    }

    /// Counts a refused challenge (sent to the store's count at the next refresh).
    pub fn refused(&self, product_id: i64) {
        self.refused
            .entry(product_id)
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Reads every queued product's line from the store (drawing it if its start has
    /// passed), flushes refusal counts, and forgets lines of products no longer queued.
    pub async fn refresh(&self, products: &[Arc<Product>], now_ms: i64) {
        let mut seen = Vec::new();
        for product in products.iter().filter(|p| p.queue) {
            seen.push(product.id);
            if let Err(e) = self.fetch_line(product, now_ms).await {
                tracing::warn!(product_id = product.id, error = %e, "could not refresh a waiting room");
            }
            let count = self
                .refused
                .get(&product.id)
                .map_or(0, |c| c.swap(0, Ordering::Relaxed));
            if count > 0 {
                if let Err(e) = self.store.add_refused(product.id, count).await {
                    // Counted again next time.
                    self.refused
                        .entry(product.id)
                        .or_default()
                        .fetch_add(count, Ordering::Relaxed);
                    tracing::debug!(error = %e, "could not count refused challenges");
                }
            }
        }
        self.lines
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|id, _| seen.contains(id));
    }

    async fn fetch_line(
        &self,
        product: &Product,
        now_ms: i64,
    ) -> Result<Arc<LineView>, flashsale_core::waiting_room::RoomError> {
        let due = Self::due(product, now_ms);
        let draw_from = due.then(|| Self::line_start(product, now_ms));
        let line = self.store.line(product.id, draw_from).await?;
        let view = Arc::new(LineView {
            line,
            fetched: Instant::now(),
        });
        self.lines
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(product.id, view.clone());
        Ok(view)
    }

    /// The product's line as this node knows it, if fresh; fetched once if this node has none
    /// yet (a product just added, a node just started).
    async fn line(&self, product: &Product, now_ms: i64) -> Option<Arc<LineView>> {
        let known = self
            .lines
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&product.id)
            .cloned();
        let due = Self::due(product, now_ms);
        match known {
            // Read before the start, and the start has passed: draw now rather than answer
            // from the prequeue for up to a refresh longer.
            Some(view) if due && !view.line.drawn => self.fetch_line(product, now_ms).await.ok(),
            Some(view) if view.fetched.elapsed() < STALE_AFTER => Some(view),
            Some(_) => None,
            None => self.fetch_line(product, now_ms).await.ok(),
        }
    }

    /// The shopper's place: from memory when this node knows it, else one store lookup.
    async fn place(
        &self,
        product_id: i64,
        user_id: i64,
        drawn: bool,
    ) -> Result<Option<Place>, flashsale_core::waiting_room::RoomError> {
        if let Some(cached) = self.places.get(&(product_id, user_id)) {
            match &*cached {
                Cached::Place(p) => return Ok(Some(*p)),
                Cached::Prequeue(p) if !drawn => return Ok(Some(*p)),
                Cached::Absent(at) if at.elapsed() < ABSENT_FOR => return Ok(None),
                Cached::Prequeue(_) | Cached::Absent(_) => {}
            }
        }
        let place = self.store.place(product_id, user_id).await?;
        self.remember(product_id, user_id, place);
        Ok(place)
    }

    /// Forgets "not in line" answers that have run out, so shoppers who only looked at a
    /// line do not stay in memory (positions stay: they never change).
    pub fn sweep(&self) {
        self.places.retain(
            |_, cached| !matches!(cached, Cached::Absent(at) if at.elapsed() >= ABSENT_FOR),
        );
    }

    fn remember(&self, product_id: i64, user_id: i64, place: Option<Place>) {
        let cached = match place {
            Some(p) if p.position.is_some() => Cached::Place(p),
            Some(p) => Cached::Prequeue(p),
            None => Cached::Absent(Instant::now()),
        };
        self.places.insert((product_id, user_id), cached);
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

    /// The shopper's standing; `None` when the line cannot be trusted (store unreachable).
    pub async fn status(
        &self,
        product: &Product,
        user_id: i64,
        now_ms: i64,
        sold_out: bool,
    ) -> Option<Status> {
        let state = self.state(product, now_ms, sold_out);
        let mut status = Status {
            state,
            place: None,
            ahead: None,
            admitted: false,
            admitted_until: None,
            eta_seconds: None,
            opens_at: self.opens_at(product),
            refresh_seconds: 30,
            sold_out,
        };
        if state == LineState::Closed {
            // No one can be in a line that has not opened: no store needed.
            status.refresh_seconds = (status.opens_at - now_ms / 1000).clamp(1, 30);
            return Some(status);
        }
        let view = self.line(product, now_ms).await?;
        let place = self
            .place(product.id, user_id, view.line.drawn)
            .await
            .ok()?;
        status.place = place;
        status.refresh_seconds = match state {
            LineState::Prequeue => product
                .sale_start
                .map_or(5, |s| (s - now_ms / 1000).clamp(1, 5)),
            LineState::Ended => 60,
            _ => 5,
        };
        let Some(place) = place else {
            return Some(status);
        };
        let Some(position) = place.position else {
            return Some(status);
        };
        let serving = view.line.schedule.serving(now_ms);
        status.ahead = Some(position.saturating_sub(serving).saturating_sub(1));
        let (admitted, at) = self.admitted(&view.line, place, now_ms);
        status.admitted = admitted && state == LineState::Queueing;
        status.admitted_until = at.map(|at| (at + self.settings.pass_secs * 1000) / 1000);
        if let Some(at) = at {
            let wait_ms = (at - now_ms).max(0);
            status.eta_seconds = Some((wait_ms + 999) / 1000);
            if state == LineState::Queueing && !admitted && wait_ms > 0 {
                status.refresh_seconds = (wait_ms / 4000).clamp(1, 10);
            }
        }
        Some(status)
    }

    /// Joins the shopper after checking the challenge. `Err` is the reply to send.
    pub async fn join(
        &self,
        shop: &Shop,
        product: &Product,
        user_id: i64,
        challenge: &str,
        nonce: &str,
        now_ms: i64,
    ) -> Result<Status, Reply> {
        let sold_out = shop.catalog.is_sold_out(product.id);
        match self.state(product, now_ms, sold_out) {
            LineState::Closed => return Err(refusal(403, "not_open_yet")),
            LineState::Ended => return Err(refusal(403, "ended")),
            LineState::Prequeue | LineState::Queueing => {}
        }
        let checked = match self.key.verify(
            challenge,
            nonce,
            &scope(product.id),
            user_id,
            now_ms / 1000,
            self.settings.difficulty,
        ) {
            Ok(c) => c,
            Err(why) => {
                tracing::debug!(product_id = product.id, %why, "challenge refused");
                self.refused(product.id);
                return Err(refusal(400, "bad_challenge"));
            }
        };
        let phase = if self.state(product, now_ms, false) == LineState::Queueing {
            Phase::Queueing
        } else {
            Phase::Prequeue
        };
        let request = JoinRequest {
            phase,
            start: Self::line_start(product, now_ms),
            challenge_id: &checked.id,
            challenge_ttl_ms: u64::try_from((checked.expires * 1000 - now_ms).max(1000))
                .unwrap_or(1000),
            now_ms,
        };
        match self.store.join(product.id, user_id, &request).await {
            Ok(Joined::Place(place)) => self.remember(product.id, user_id, Some(place)),
            Ok(Joined::ChallengeUsed) => {
                self.refused(product.id);
                return Err(refusal(400, "bad_challenge"));
            }
            Err(e) => {
                tracing::warn!(product_id = product.id, error = %e, "could not join; answering unavailable");
                return Err(refusal(503, "unavailable"));
            }
        }
        self.status(product, user_id, now_ms, sold_out)
            .await
            .ok_or_else(|| refusal(503, "unavailable"))
    }
}

pub fn refusal(status: u16, word: &'static str) -> Reply {
    Reply::json(status, json!({"result": word})).result_word(word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashsale_core::waiting_room::{MemoryRoom, RoomError, Schedule, Segment};

    fn room() -> Room {
        Room::new(RoomParts {
            store: Arc::new(MemoryRoom::new()),
            key: ChallengeKey::derive(b"test"),
            settings: RoomSettings {
                prequeue_secs: 900,
                pass_secs: 300,
                difficulty: 4,
                register_difficulty: 0,
            },
        })
    }

    fn product(start: Option<i64>, end: Option<i64>) -> Product {
        Product {
            id: 1,
            name: "drop".into(),
            stock: 10,
            price_cents: 100,
            image: String::new(),
            description: String::new(),
            sale_start: start,
            sale_end: end,
            queue: true,
            admit_per_second: 10,
        }
    }

    /// The memory store, counting the calls a status poll could make.
    #[derive(Default)]
    struct Counting {
        inner: MemoryRoom,
        places: AtomicU64,
        lines: AtomicU64,
    }

    #[async_trait::async_trait]
    impl WaitingRoom for Counting {
        async fn join(
            &self,
            product_id: i64,
            user_id: i64,
            request: &JoinRequest<'_>,
        ) -> Result<Joined, RoomError> {
            self.inner.join(product_id, user_id, request).await
        }
        async fn place(&self, product_id: i64, user_id: i64) -> Result<Option<Place>, RoomError> {
            self.places.fetch_add(1, Ordering::Relaxed);
            self.inner.place(product_id, user_id).await
        }
        async fn line(
            &self,
            product_id: i64,
            draw_from: Option<LineStart>,
        ) -> Result<Line, RoomError> {
            self.lines.fetch_add(1, Ordering::Relaxed);
            self.inner.line(product_id, draw_from).await
        }
        async fn set_rate(
            &self,
            product_id: i64,
            start: LineStart,
            now_ms: i64,
        ) -> Result<(), RoomError> {
            self.inner.set_rate(product_id, start, now_ms).await
        }
        async fn add_refused(&self, product_id: i64, count: u64) -> Result<(), RoomError> {
            self.inner.add_refused(product_id, count).await
        }
        async fn use_challenge(
            &self,
            id: &str,
            ttl_ms: u64,
            now_ms: i64,
        ) -> Result<bool, RoomError> {
            self.inner.use_challenge(id, ttl_ms, now_ms).await
        }
        async fn remove(&self, product_id: i64) -> Result<(), RoomError> {
            self.inner.remove(product_id).await
        }
    }

    #[tokio::test]
    async fn polling_status_and_buying_cost_no_store_call_once_a_place_is_known() {
        let store = Arc::new(Counting::default());
        let room = Room::new(RoomParts {
            store: store.clone(),
            key: ChallengeKey::derive(b"test"),
            settings: room().settings,
        });
        let p = product(None, None);
        let now = flashsale_core::domain::now_unix_ms();
        store
            .inner
            .join(
                p.id,
                7,
                &JoinRequest {
                    phase: Phase::Queueing,
                    start: LineStart {
                        start_ms: now,
                        rate: 10,
                    },
                    challenge_id: "c",
                    challenge_ttl_ms: 1000,
                    now_ms: now,
                },
            )
            .await
            .expect("join");
        room.refresh(&[Arc::new(p.clone())], now).await;
        let lines_after_refresh = store.lines.load(Ordering::Relaxed);
        for i in 0..1000 {
            let status = room.status(&p, 7, now + i, false).await.expect("status");
            assert_eq!(status.place.and_then(|p| p.position), Some(1));
            assert_ne!(room.admission(&p, 7, now + i).await, Admission::Unavailable);
            // A shopper who never joined costs one lookup per few seconds, not per poll.
            assert!(room
                .status(&p, 8, now + i, false)
                .await
                .expect("status")
                .place
                .is_none());
        }
        assert_eq!(
            store.places.load(Ordering::Relaxed),
            2,
            "one lookup per shopper"
        );
        assert_eq!(
            store.lines.load(Ordering::Relaxed),
            lines_after_refresh,
            "the line comes from the background refresh only"
        );
    }

    #[test]
    fn the_line_moves_through_its_states_by_the_clock() {
        let room = room();
        let p = product(Some(10_000), Some(20_000));
        assert_eq!(room.state(&p, 9_099_999, false), LineState::Closed);
        assert_eq!(room.state(&p, 9_100_000, false), LineState::Prequeue);
        assert_eq!(room.state(&p, 10_000_000, false), LineState::Queueing);
        assert_eq!(
            room.state(&p, 12_000_000, true),
            LineState::Ended,
            "sold out"
        );
        assert_eq!(room.state(&p, 20_000_000, false), LineState::Ended, "over");
        let no_start = product(None, None);
        assert_eq!(room.state(&no_start, 0, false), LineState::Queueing);
    }

    #[test]
    fn an_admission_lasts_the_pass_and_starts_no_earlier_than_the_join() {
        let room = room();
        let line = Line {
            drawn: true,
            positions: 100,
            schedule: Schedule::new(vec![Segment {
                t0_ms: 0,
                served: 0,
                rate: 10,
            }]),
            ..Line::default()
        };
        let early = Place {
            position: Some(20),
            joined_ms: 0,
        };
        assert_eq!(room.admitted(&line, early, 1_999), (false, Some(2_000)));
        assert_eq!(room.admitted(&line, early, 2_000), (true, Some(2_000)));
        assert!(room.admitted(&line, early, 301_999).0);
        assert!(!room.admitted(&line, early, 302_000).0, "expired");
        let late = Place {
            position: Some(20),
            joined_ms: 50_000,
        };
        assert_eq!(room.admitted(&line, late, 50_000), (true, Some(50_000)));
        assert!(!room.admitted(&line, late, 351_000).0);
    }
}
