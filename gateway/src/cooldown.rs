//! The per-shopper Buy cooldown: one click per shopper per period.
//!
//! The check and the stamp are one atomic step (a map entry held under its shard's lock), so
//! two concurrent clicks of one shopper cannot both pass. Time is passed in, so tests need
//! not sleep.

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use std::time::{Duration, Instant};

pub struct Cooldown {
    period: Duration,
    last_click: DashMap<i64, Instant>,
}

impl Cooldown {
    pub fn new(period: Duration) -> Self {
        Cooldown {
            period,
            last_click: DashMap::new(),
        }
    }

    pub fn period(&self) -> Duration {
        self.period
    }

    /// Starts a cooldown for `uid` at `now`, or says how long the running one still lasts.
    pub fn try_start(&self, uid: i64, now: Instant) -> Result<(), Duration> {
        match self.last_click.entry(uid) {
            Entry::Occupied(mut e) => {
                let since = now.saturating_duration_since(*e.get());
                if since < self.period {
                    Err(self.period - since)
                } else {
                    e.insert(now);
                    Ok(())
                }
            }
            Entry::Vacant(e) => {
                e.insert(now);
                Ok(())
            }
        }
    }

    /// Forgets cooldowns that have run out, so memory follows the shoppers active right now.
    pub fn sweep(&self, now: Instant) {
        self.last_click
            .retain(|_, at| now.saturating_duration_since(*at) < self.period);
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
        let c = Cooldown::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(c.try_start(1, t0), Ok(()));
        assert_eq!(
            c.try_start(1, t0 + Duration::from_secs(3)),
            Err(Duration::from_secs(7))
        );
        assert_eq!(c.try_start(2, t0 + Duration::from_secs(3)), Ok(()));
        assert_eq!(c.try_start(1, t0 + Duration::from_secs(10)), Ok(()));
    }

    #[test]
    fn sweep_forgets_only_expired_entries() {
        let c = Cooldown::new(Duration::from_secs(10));
        let t0 = Instant::now();
        c.try_start(1, t0).expect("first");
        c.try_start(2, t0 + Duration::from_secs(5)).expect("first");
        c.sweep(t0 + Duration::from_secs(11));
        assert_eq!(c.len(), 1);
        assert!(c.try_start(2, t0 + Duration::from_secs(12)).is_err());
    }

    #[test]
    fn concurrent_clicks_of_one_shopper_let_exactly_one_through() {
        let c = std::sync::Arc::new(Cooldown::new(Duration::from_secs(10)));
        let now = Instant::now();
        let passed: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|_| {
                    let c = c.clone();
                    s.spawn(move || c.try_start(42, now).is_ok() as usize)
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        });
        assert_eq!(passed, 1);
    }
}
