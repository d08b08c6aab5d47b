//! The waiting room of a product whose `queue` is on (DESIGN.md, "The waiting room").
//!
//! The line lives where the stock does (Redis, or memory on embedded defaults), so every
//! gateway of a ring sees the same line. A shopper joins once per product:
//!
//! - before `saleStart` (the prequeue) the join is recorded with a random ticket drawn by the
//!   gateway from the operating system's CSPRNG, and no position;
//! - at `saleStart` the line is **drawn**, once, atomically: the prequeue ordered by ticket is
//!   a uniformly random permutation, and gives positions `1..=n`;
//! - from then on each newcomer gets the next position, in arrival order.
//!
//! Positions never change once given, so gateways cache them. What moves is the serving
//! position, a function of time kept as a short list of rate [`Segment`]s stored with the line
//! ([`Schedule`]): every gateway computes it, and each position's admission time, in memory.
//! A rate change or a pause (rate 0) appends a segment, so it reaches every gateway at its next
//! refresh of the line.

mod challenge;
mod memory;
mod redis;
mod schedule;

pub use self::redis::RedisRoom;
pub use challenge::{solve, solves, Challenge, ChallengeError, ChallengeKey};
pub use memory::MemoryRoom;
pub use schedule::{Schedule, Segment};

use async_trait::async_trait;

/// Where a shopper stands in a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// `None` while the shopper waits in the prequeue for the draw.
    pub position: Option<u64>,
    /// Unix milliseconds of the join: a newcomer is admitted no earlier than this, even when
    /// the serving position passed their number before they came.
    pub joined_ms: i64,
}

/// Whether the caller's clock says the draw is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before `saleStart`: join the prequeue.
    Prequeue,
    /// From `saleStart` (or always, without one): draw if not done, then join at the end.
    Queueing,
}

/// When the line starts admitting and how fast, used only when the store has no schedule
/// for the line yet (the first draw or join creates it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineStart {
    /// Unix milliseconds: `saleStart`, or the first join's time for a product without one.
    pub start_ms: i64,
    pub rate: u32,
}

/// A join as the gateway asks for it, its challenge already checked.
#[derive(Debug, Clone)]
pub struct JoinRequest<'a> {
    pub phase: Phase,
    pub start: LineStart,
    /// The solved challenge's id: recorded so it joins once.
    pub challenge_id: &'a str,
    /// How long to remember the challenge id (until it expires anyway).
    pub challenge_ttl_ms: u64,
    pub now_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    /// The shopper's place (the same one on every join).
    Place(Place),
    /// The challenge was used before: nothing changed.
    ChallengeUsed,
}

/// A line as the gateways and the dashboard see it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Line {
    pub drawn: bool,
    /// Shoppers waiting for the draw (0 once drawn).
    pub prequeue: u64,
    /// Positions given so far: the last one in line holds this number.
    pub positions: u64,
    pub schedule: Schedule,
    /// Challenges the gateways refused for this product.
    pub refused: u64,
}

impl Line {
    /// Everyone in the line, drawn or not.
    pub fn in_line(&self) -> u64 {
        self.positions + self.prequeue
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    #[error("the waiting room store is unreachable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait WaitingRoom: Send + Sync + 'static {
    /// Joins the shopper to product's line, or returns their place if they are in it; the
    /// challenge id is recorded in the same step, and a used one changes nothing.
    async fn join(
        &self,
        product_id: i64,
        user_id: i64,
        request: &JoinRequest<'_>,
    ) -> Result<Joined, RoomError>;

    /// The shopper's place, `None` if they never joined.
    async fn place(&self, product_id: i64, user_id: i64) -> Result<Option<Place>, RoomError>;

    /// The line; with `draw_from` (the caller's clock says `saleStart` has passed) the draw is
    /// done first if it was not, so any gateway may trigger it and exactly one does.
    async fn line(&self, product_id: i64, draw_from: Option<LineStart>) -> Result<Line, RoomError>;

    /// Sets the line's admission rate from `now_ms` on (0 pauses it); before the line starts
    /// admitting, sets its start and rate instead. Unchanged values change nothing.
    async fn set_rate(
        &self,
        product_id: i64,
        start: LineStart,
        now_ms: i64,
    ) -> Result<(), RoomError>;

    /// Adds challenges refused by a gateway to the product's count (for the dashboard).
    async fn add_refused(&self, product_id: i64, count: u64) -> Result<(), RoomError>;

    /// Records a challenge used outside any line (registration); `false` if it was used
    /// before. Remembered for `ttl_ms` (until it expires anyway).
    async fn use_challenge(&self, id: &str, ttl_ms: u64, now_ms: i64) -> Result<bool, RoomError>;

    /// Forgets the product's line (the product was deleted).
    async fn remove(&self, product_id: i64) -> Result<(), RoomError>;
}

/// A ticket for the prequeue draw: 53 random bits from the OS's CSPRNG, so a Redis sorted-set
/// score (a double) holds it exactly and order by ticket is a uniformly random order.
pub fn draw_ticket() -> u64 {
    use rand::RngCore;
    rand::rngs::OsRng.next_u64() >> 11
}
