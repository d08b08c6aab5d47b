//! Slows password guessing: after a few failures for one user name or from one address,
//! further attempts are refused for a while, and the wait doubles with each new failure.
//!
//! Checked before the password is hashed, so a guessing run cannot keep the hash busy either.
//! Times are passed in, so tests need not sleep.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed before the first wait.
pub const FREE_FAILURES: u32 = 5;
const FIRST_WAIT: Duration = Duration::from_secs(30);
const LONGEST_WAIT: Duration = Duration::from_secs(15 * 60);
/// A key whose last failure is this old is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(3600);
/// Past this many keys, forgotten ones are swept on each failure.
const SWEEP_ABOVE: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

#[derive(Default)]
pub struct Throttle {
    keys: Mutex<HashMap<String, Failures>>,
}

impl Throttle {
    /// How long the caller must wait before trying any of `keys` again; `None`: go ahead.
    pub fn wait(&self, keys: &[String], now: Instant) -> Option<Duration> {
        let map = self.lock();
        keys.iter()
            .filter_map(|k| map.get(k)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max()
    }

    /// A failed attempt on each of `keys`.
    pub fn failed(&self, keys: &[String], now: Instant) {
        let mut map = self.lock();
        if map.len() > SWEEP_ABOVE {
            map.retain(|_, f| now.duration_since(f.last) < FORGET_AFTER);
        }
        for k in keys {
            let f = map.entry(k.clone()).or_insert(Failures {
                count: 0,
                last: now,
                locked_until: None,
            });
            if now.duration_since(f.last) >= FORGET_AFTER {
                f.count = 0;
            }
            f.count += 1;
            f.last = now;
            if f.count >= FREE_FAILURES {
                let doublings = (f.count - FREE_FAILURES).min(16);
                let wait = FIRST_WAIT.saturating_mul(1 << doublings).min(LONGEST_WAIT);
                f.locked_until = Some(now + wait);
            }
        }
    }

    /// A successful login: its keys start afresh.
    pub fn succeeded(&self, keys: &[String]) {
        let mut map = self.lock();
        for k in keys {
            map.remove(k);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failures>> {
        // Plain counters: still consistent after a panic elsewhere.
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_then_a_growing_wait() {
        let t = Throttle::default();
        let keys = vec!["user:admin".to_string(), "ip:127.0.0.1".to_string()];
        let t0 = Instant::now();
        for i in 0..FREE_FAILURES - 1 {
            assert_eq!(t.wait(&keys, t0), None, "attempt {i} is free");
            t.failed(&keys, t0);
        }
        t.failed(&keys, t0);
        assert_eq!(t.wait(&keys, t0), Some(FIRST_WAIT));
        assert_eq!(t.wait(&keys, t0 + FIRST_WAIT), None, "the wait ends");
        t.failed(&keys, t0 + FIRST_WAIT);
        assert_eq!(
            t.wait(&keys, t0 + FIRST_WAIT),
            Some(FIRST_WAIT * 2),
            "and doubles"
        );
        // Another address guessing the same user name is held back by the user name.
        let elsewhere = vec!["user:admin".to_string(), "ip:10.0.0.9".to_string()];
        assert!(t.wait(&elsewhere, t0 + FIRST_WAIT).is_some());
        t.succeeded(&keys);
        assert_eq!(t.wait(&keys, t0 + FIRST_WAIT), None);
    }

    #[test]
    fn the_wait_is_capped() {
        let t = Throttle::default();
        let keys = vec!["ip:x".to_string()];
        let t0 = Instant::now();
        for _ in 0..100 {
            t.failed(&keys, t0);
        }
        assert_eq!(t.wait(&keys, t0), Some(LONGEST_WAIT));
    }
}
