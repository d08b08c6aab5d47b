//! The per-shopper Buy cooldown: one click per shopper per period.
//!
//! The check and the stamp are one atomic step (a map entry held under its shard's lock), so
//! two concurrent clicks of one shopper cannot both pass. Time is passed in, so tests need
//! not sleep. Memory is bounded twice: entries are swept once their cooldown ran out, and the
//! table has a capacity; when it is full, a shopper it does not know yet is refused (the Buy
//! answers 503) rather than the table growing without end.

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub struct Cooldown {
    period: Duration,
    capacity: usize,
    last_click: DashMap<i64, Instant>,
    /// Entries, kept beside the map: `DashMap::len` locks every shard, too dear per click.
    entries: AtomicUsize,
}

/// Why a click may not start a cooldown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The shopper's cooldown still runs for this long.
    Wait(Duration),
    /// The table is full of running cooldowns.
    Full,
}

impl Cooldown {
    pub fn new(period: Duration, capacity: usize) -> Self {
        Cooldown {
            period,
            capacity,
            last_click: DashMap::new(),
            entries: AtomicUsize::new(0),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Starts a cooldown for `uid` at `now`, or says how long the running one still lasts.
    pub fn try_start(&self, uid: i64, now: Instant) -> Result<(), Refused> {
        // Approximate by a few entries under contention, which a capacity does not mind.
        let full = self.entries.load(Ordering::Relaxed) >= self.capacity;
        match self.last_click.entry(uid) {
            Entry::Occupied(mut e) => {
                let since = now.saturating_duration_since(*e.get());
                if since < self.period {
                    Err(Refused::Wait(self.period - since))
                } else {
                    e.insert(now);
                    Ok(())
                }
            }
            Entry::Vacant(_) if full => Err(Refused::Full),
            Entry::Vacant(e) => {
                e.insert(now);
                self.entries.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
        }
    }

    /// Forgets cooldowns that have run out, so memory follows the shoppers active right now.
    pub fn sweep(&self, now: Instant) {
        self.last_click
            .retain(|_, at| now.saturating_duration_since(*at) < self.period);
        self.entries.store(self.last_click.len(), Ordering::Relaxed);
    }

    /// Shoppers currently remembered.
    pub fn len(&self) -> usize {
        self.last_click.len()
    }

    pub fn is_empty(&self) -> bool {
        self.last_click.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_click_within_the_period_waits_for_the_rest() {
        let c = Cooldown::new(Duration::from_secs(10), 100);
        let t0 = Instant::now();
        assert_eq!(c.try_start(1, t0), Ok(()));
        assert_eq!(
            c.try_start(1, t0 + Duration::from_secs(3)),
            Err(Refused::Wait(Duration::from_secs(7)))
        );
        assert_eq!(c.try_start(2, t0 + Duration::from_secs(3)), Ok(()));
        assert_eq!(c.try_start(1, t0 + Duration::from_secs(10)), Ok(()));
    }

    #[test]
    fn sweep_forgets_only_expired_entries() {
        let c = Cooldown::new(Duration::from_secs(10), 100);
        let t0 = Instant::now();
        c.try_start(1, t0).expect("first");
        c.try_start(2, t0 + Duration::from_secs(5)).expect("first");
        c.sweep(t0 + Duration::from_secs(11));
        assert_eq!(c.len(), 1);
        assert!(!c.is_empty());
        assert!(c.try_start(2, t0 + Duration::from_secs(12)).is_err());
        c.sweep(t0 + Duration::from_secs(30));
        assert!(c.is_empty());
    }

    #[test]
    fn a_cooldown_is_forgotten_the_moment_it_runs_out() {
        let c = Cooldown::new(Duration::from_secs(10), 1);
        let t0 = Instant::now();
        c.try_start(1, t0).expect("first");
        c.sweep(t0 + Duration::from_millis(9_999));
        assert_eq!(c.len(), 1, "still running");
        c.sweep(t0 + Duration::from_secs(10));
        assert_eq!(c.len(), 0);
        // Its place in the full table is free for a new shopper.
        assert_eq!(c.try_start(2, t0 + Duration::from_secs(10)), Ok(()));
    }

    #[test]
    fn a_full_table_refuses_new_shoppers_until_swept() {
        let c = Cooldown::new(Duration::from_secs(10), 3);
        // The warning a full table logs names this number.
        assert_eq!(c.capacity(), 3);
        let t0 = Instant::now();
        for uid in 1..=3 {
            c.try_start(uid, t0).expect("room");
        }
        assert_eq!(c.try_start(4, t0), Err(Refused::Full));
        // Known shoppers are still told how long to wait, and are let in when it ran out.
        assert!(matches!(c.try_start(1, t0), Err(Refused::Wait(_))));
        assert_eq!(c.try_start(1, t0 + Duration::from_secs(10)), Ok(()));
        c.sweep(t0 + Duration::from_secs(11));
        assert_eq!(c.try_start(4, t0 + Duration::from_secs(11)), Ok(()));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn concurrent_clicks_of_one_shopper_let_exactly_one_through() {
        const THREADS: usize = 8;
        const ROUNDS: usize = 2_000;
        let c = Cooldown::new(Duration::from_secs(10), ROUNDS * 2);
        let now = Instant::now();
        // All threads click shopper `round` at once: the barrier releases them together,
        // so the check and the stamp of several threads genuinely overlap.
        let start = std::sync::Barrier::new(THREADS);
        let wins: Vec<Vec<usize>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|_| {
                    s.spawn(|| {
                        (0..ROUNDS)
                            .filter(|round| {
                                start.wait();
                                c.try_start(*round as i64, now).is_ok()
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a clicking thread panicked"))
                .collect()
        });
        // Who passed in each round.
        let mut passed = vec![Vec::new(); ROUNDS];
        for (thread, rounds) in wins.iter().enumerate() {
            for round in rounds {
                passed[*round].push(thread);
            }
        }
        let mut winners = std::collections::HashSet::new();
        for (round, threads) in passed.iter().enumerate() {
            assert_eq!(
                threads.len(),
                1,
                "round {round}: threads {threads:?} passed"
            );
            winners.insert(threads[0]);
        }
        // The race was real: the click that wins is not always the same thread's.
        assert!(winners.len() > 1, "thread {winners:?} won every round");
    }
}
