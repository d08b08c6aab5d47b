//! The room answered from memory, with a store that counts its calls.

use super::*;
use flashsale_core::waiting_room::{
    JoinRequest, Joined, MemoryRoom, Phase, RoomError, Schedule, Segment,
};
use std::sync::atomic::Ordering;

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
    async fn line(&self, product_id: i64, draw_from: Option<LineStart>) -> Result<Line, RoomError> {
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
    async fn use_challenge(&self, id: &str, ttl_ms: u64, now_ms: i64) -> Result<bool, RoomError> {
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
