//! The serving position as a function of time: a list of rate segments.
//!
//! Segment `i` starts at `t0_ms` with `served` positions admitted and admits `rate` a second
//! until the next segment starts; the next segment's `served` is this one's count at its start
//! (computed by the same formula when it was appended), so the function never jumps.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub t0_ms: i64,
    pub served: u64,
    pub rate: u32,
}

impl Segment {
    /// Positions admitted at `now_ms` if this segment ran on.
    pub fn serving_at(&self, now_ms: i64) -> u64 {
        let elapsed = u128::try_from(now_ms.saturating_sub(self.t0_ms)).unwrap_or(0);
        let grown = u128::from(self.rate) * elapsed / 1000;
        self.served
            .saturating_add(u64::try_from(grown).unwrap_or(u64::MAX))
    }

    /// `t0,served,rate`, as stored.
    pub fn encode(&self) -> String {
        format!("{},{},{}", self.t0_ms, self.served, self.rate)
    }

    pub fn decode(text: &str) -> Option<Segment> {
        let mut parts = text.split(',');
        let segment = Segment {
            t0_ms: parts.next()?.parse().ok()?,
            served: parts.next()?.parse().ok()?,
            rate: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(segment)
    }
}

/// The segments of one line, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schedule {
    segments: Vec<Segment>,
}

impl Schedule {
    /// Segments as stored; out-of-order ones are sorted, so a bad row cannot make time run
    /// backwards.
    pub fn new(mut segments: Vec<Segment>) -> Schedule {
        segments.sort_by_key(|s| s.t0_ms);
        Schedule { segments }
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// When admission starts (the first segment), if it is known.
    pub fn start_ms(&self) -> Option<i64> {
        self.segments.first().map(|s| s.t0_ms)
    }

    /// The rate now (0: paused, or nothing known).
    pub fn rate_at(&self, now_ms: i64) -> u32 {
        self.current(now_ms).map_or(0, |s| s.rate)
    }

    fn current(&self, now_ms: i64) -> Option<&Segment> {
        self.segments.iter().rev().find(|s| s.t0_ms <= now_ms)
    }

    /// The serving position at `now_ms`: positions up to it are admitted.
    pub fn serving(&self, now_ms: i64) -> u64 {
        self.current(now_ms).map_or(0, |s| s.serving_at(now_ms))
    }

    /// When position `position` is (or was) admitted by the schedule; `None` if never (the
    /// line is paused before reaching it, or nothing is known).
    pub fn admitted_at(&self, position: u64) -> Option<i64> {
        let first = self.segments.first()?;
        if position <= first.served {
            // Admitted before the oldest segment kept: as early as we can tell.
            return Some(first.t0_ms);
        }
        for (i, seg) in self.segments.iter().enumerate() {
            let next = self.segments.get(i + 1);
            if next.is_some_and(|n| position > n.served) {
                continue;
            }
            if seg.rate == 0 {
                // Paused before reaching it: a later segment would have taken it.
                return None;
            }
            let needed = u128::from(position.saturating_sub(seg.served)) * 1000;
            let rate = u128::from(seg.rate);
            let wait = needed.div_ceil(rate);
            return Some(
                seg.t0_ms
                    .saturating_add(i64::try_from(wait).unwrap_or(i64::MAX)),
            );
        }
        None
    }

    /// Admitted per minute just before `now_ms` (the dashboard's number).
    pub fn admitted_last_minute(&self, now_ms: i64, positions: u64) -> u64 {
        let now = self.serving(now_ms).min(positions);
        let then = self.serving(now_ms - 60_000).min(positions);
        now.saturating_sub(then)
    }

    /// The segment list after the rate becomes `rate` at `now_ms`: unchanged if it already is
    /// that; a fresh single segment at `start` if admission has not started yet.
    pub fn with_rate(&self, start_ms: i64, rate: u32, now_ms: i64) -> Option<Vec<Segment>> {
        let fresh = || {
            vec![Segment {
                t0_ms: start_ms,
                served: 0,
                rate,
            }]
        };
        match self.segments.first() {
            None => Some(fresh()),
            Some(first) if now_ms < first.t0_ms => {
                let single = fresh();
                (single != self.segments).then_some(single)
            }
            Some(_) => {
                let current = self.current(now_ms)?;
                if current.rate == rate {
                    return None;
                }
                let mut segments: Vec<Segment> = self
                    .segments
                    .iter()
                    .filter(|s| s.t0_ms <= now_ms)
                    .copied()
                    .collect();
                segments.push(Segment {
                    t0_ms: now_ms,
                    served: current.serving_at(now_ms),
                    rate,
                });
                Some(segments)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(t0_ms: i64, served: u64, rate: u32) -> Segment {
        Segment {
            t0_ms,
            served,
            rate,
        }
    }

    #[test]
    fn serving_grows_at_the_rate_from_the_start() {
        let s = Schedule::new(vec![seg(10_000, 0, 20)]);
        assert_eq!(s.serving(9_999), 0, "nothing before the start");
        assert_eq!(s.serving(10_000), 0);
        assert_eq!(s.serving(10_050), 1);
        assert_eq!(s.serving(15_000), 100, "5 s at 20/s");
        for p in [1, 2, 37, 100] {
            let at = s.admitted_at(p).expect("admitted");
            assert!(s.serving(at) >= p, "{p} is admitted at {at}");
            assert!(s.serving(at - 1) < p, "{p} is not admitted before {at}");
        }
    }

    #[test]
    fn a_pause_and_a_rate_change_take_effect_from_their_moment() {
        let s = Schedule::new(vec![seg(0, 0, 10)]);
        let paused = Schedule::new(s.with_rate(0, 0, 2_000).expect("changed"));
        assert_eq!(paused.serving(2_000), 20);
        assert_eq!(paused.serving(60_000), 20, "a paused line admits no one");
        assert_eq!(paused.admitted_at(21), None);
        assert_eq!(paused.admitted_at(20), Some(2_000));
        assert_eq!(paused.with_rate(0, 0, 3_000), None, "unchanged");
        let resumed = Schedule::new(paused.with_rate(0, 100, 10_000).expect("changed"));
        assert_eq!(resumed.serving(9_000), 20, "the past is kept");
        assert_eq!(resumed.serving(11_000), 120);
        let at = resumed.admitted_at(21).expect("admitted after resuming");
        assert!((10_000..=10_010).contains(&at), "{at}");
        assert_eq!(resumed.admitted_at(5), Some(500));
    }

    #[test]
    fn before_the_start_a_rate_change_replaces_the_start() {
        let s = Schedule::new(vec![seg(100_000, 0, 10)]);
        let changed = s.with_rate(200_000, 50, 1_000).expect("changed");
        assert_eq!(changed, vec![seg(200_000, 0, 50)]);
        assert_eq!(
            Schedule::default().with_rate(5, 7, 0),
            Some(vec![seg(5, 0, 7)])
        );
    }

    #[test]
    fn segments_round_trip_as_text() {
        let s = seg(1_700_000_000_123, 42, 100);
        assert_eq!(Segment::decode(&s.encode()), Some(s));
        for bad in ["", "1,2", "1,2,3,4", "a,b,c", "1,-2,3"] {
            assert_eq!(Segment::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn admitted_per_minute_counts_only_people_in_line() {
        let s = Schedule::new(vec![seg(0, 0, 10)]);
        assert_eq!(s.admitted_last_minute(120_000, 10_000), 600);
        assert_eq!(
            s.admitted_last_minute(120_000, 50),
            0,
            "all 50 went long ago"
        );
    }
}
