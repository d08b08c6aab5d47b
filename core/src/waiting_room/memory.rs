//! The waiting room in this process, for `flashsale up` on embedded defaults: one lock over
//! all lines, each operation done whole under it, as the Redis scripts are.

use super::{
    draw_ticket, JoinRequest, Joined, Line, LineStart, Phase, Place, RoomError, Schedule, Segment,
    WaitingRoom,
};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryRoom {
    lines: Mutex<HashMap<i64, MemLine>>,
    /// Challenges used outside any line -> expiry (unix ms).
    used: Mutex<HashMap<String, i64>>,
}

#[derive(Default)]
struct MemLine {
    /// Shopper -> position (0 while in the prequeue) and join time.
    places: HashMap<i64, (u64, i64)>,
    /// (ticket, shopper) of the prequeue.
    prequeue: Vec<(u64, i64)>,
    drawn: bool,
    positions: u64,
    segments: Vec<Segment>,
    refused: u64,
    /// Challenge id -> expiry (unix ms).
    used: HashMap<String, i64>,
}

impl MemLine {
    /// The draw: the prequeue by ticket, a uniformly random order; done once.
    fn draw(&mut self, start: LineStart) {
        if self.drawn {
            return;
        }
        self.drawn = true;
        let mut drawn = std::mem::take(&mut self.prequeue);
        drawn.sort_unstable();
        for (_, user) in drawn {
            self.positions += 1;
            if let Some(place) = self.places.get_mut(&user) {
                place.0 = self.positions;
            }
        }
        if self.segments.is_empty() {
            self.segments.push(Segment {
                t0_ms: start.start_ms,
                served: 0,
                rate: start.rate,
            });
        }
    }

    fn place(&self, user_id: i64) -> Option<Place> {
        self.places.get(&user_id).map(|&(n, joined_ms)| Place {
            position: (n > 0).then_some(n),
            joined_ms,
        })
    }
}

impl MemoryRoom {
    pub fn new() -> Self {
        Self::default()
    }

    fn with_line<T>(&self, product_id: i64, f: impl FnOnce(&mut MemLine) -> T) -> T {
        // A poisoned lock means a panic mid-operation elsewhere; the map is still usable.
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        f(lines.entry(product_id).or_default())
    }
}

#[async_trait]
impl WaitingRoom for MemoryRoom {
    async fn join(
        &self,
        product_id: i64,
        user_id: i64,
        request: &JoinRequest<'_>,
    ) -> Result<Joined, RoomError> {
        let ticket = draw_ticket();
        Ok(self.with_line(product_id, |line| {
            let now = request.now_ms;
            if line.used.len() > 10_000 {
                line.used.retain(|_, expires| *expires > now);
            }
            if line
                .used
                .get(request.challenge_id)
                .is_some_and(|e| *e > now)
            {
                return Joined::ChallengeUsed;
            }
            let ttl = i64::try_from(request.challenge_ttl_ms).unwrap_or(i64::MAX);
            line.used
                .insert(request.challenge_id.to_string(), now.saturating_add(ttl));
            if request.phase == Phase::Queueing {
                line.draw(request.start);
            }
            if let Some(place) = line.place(user_id) {
                return Joined::Place(place);
            }
            if line.drawn {
                if line.segments.is_empty() {
                    line.segments.push(Segment {
                        t0_ms: request.start.start_ms,
                        served: 0,
                        rate: request.start.rate,
                    });
                }
                // An empty line banks no admissions (as in the Redis script).
                if let Some(last) = line.segments.last().copied() {
                    if now > last.t0_ms && last.serving_at(now) > line.positions {
                        line.segments.push(Segment {
                            t0_ms: now,
                            served: line.positions,
                            rate: last.rate,
                        });
                        if line.segments.len() > 256 {
                            line.segments.remove(0);
                        }
                    }
                }
                line.positions += 1;
                line.places.insert(user_id, (line.positions, now));
            } else {
                line.prequeue.push((ticket, user_id));
                line.places.insert(user_id, (0, now));
            }
            Joined::Place(line.place(user_id).unwrap_or(Place {
                position: None,
                joined_ms: now,
            }))
        }))
    }

    async fn place(&self, product_id: i64, user_id: i64) -> Result<Option<Place>, RoomError> {
        Ok(self.with_line(product_id, |line| line.place(user_id)))
    }

    async fn line(&self, product_id: i64, draw_from: Option<LineStart>) -> Result<Line, RoomError> {
        Ok(self.with_line(product_id, |line| {
            if let Some(start) = draw_from {
                line.draw(start);
            }
            Line {
                drawn: line.drawn,
                prequeue: line.prequeue.len() as u64,
                positions: line.positions,
                schedule: Schedule::new(line.segments.clone()),
                refused: line.refused,
            }
        }))
    }

    async fn set_rate(
        &self,
        product_id: i64,
        start: LineStart,
        now_ms: i64,
    ) -> Result<(), RoomError> {
        self.with_line(product_id, |line| {
            let schedule = Schedule::new(line.segments.clone());
            if let Some(segments) = schedule.with_rate(start.start_ms, start.rate, now_ms) {
                line.segments = segments;
            }
        });
        Ok(())
    }

    async fn add_refused(&self, product_id: i64, count: u64) -> Result<(), RoomError> {
        self.with_line(product_id, |line| line.refused += count);
        Ok(())
    }

    async fn use_challenge(&self, id: &str, ttl_ms: u64, now_ms: i64) -> Result<bool, RoomError> {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if used.len() > 10_000 {
            used.retain(|_, expires| *expires > now_ms);
        }
        if used.get(id).is_some_and(|e| *e > now_ms) {
            return Ok(false);
        }
        let ttl = i64::try_from(ttl_ms).unwrap_or(i64::MAX);
        used.insert(id.to_string(), now_ms.saturating_add(ttl));
        Ok(true)
    }

    async fn remove(&self, product_id: i64) -> Result<(), RoomError> {
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&product_id);
        Ok(())
    }
}
