//! Slows password guessing: after a few failures for one user name or from one address,
//! further attempts are refused for a while, and the wait doubles with each new failure.
//!
//! A stranger must not keep the admin out for good by failing on the admin's user name: an
//! address the admin has logged in from is held back only by its own failures, never by the
//! user name's, and a success clears its address.
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

/// How long an address the admin logged in from stays known.
const KNOWN_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Default)]
pub struct Throttle {
    keys: Mutex<HashMap<String, Failures>>,
    /// `user\naddress` pairs that logged in, and when.
    known: Mutex<HashMap<String, Instant>>,
}

impl Throttle {
    /// The keys an attempt of `user` from `address` counts against.
    pub fn keys(user: &str, address: &str) -> Vec<String> {
        vec![
            format!("user:{}", user.trim().to_lowercase()),
            format!("ip:{address}"),
        ]
    }

    fn pair(user: &str, address: &str) -> String {
        format!("{}\n{address}", user.trim().to_lowercase())
    }

    /// How long `user` at `address` must wait before trying again; `None`: go ahead.
    pub fn wait_for(&self, user: &str, address: &str, now: Instant) -> Option<Duration> {
        let known = self
            .known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&Self::pair(user, address))
            .is_some_and(|at| now.duration_since(*at) < KNOWN_FOR);
        let keys = Self::keys(user, address);
        // A known address answers only for its own failures.
        let keys = if known { &keys[1..] } else { &keys[..] };
        self.wait(keys, now)
    }

    /// A successful login of `user` from `address`: the address starts afresh and is known.
    pub fn logged_in(&self, user: &str, address: &str, now: Instant) {
        self.succeeded(&Self::keys(user, address)[1..]);
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if known.len() > SWEEP_ABOVE {
            known.retain(|_, at| now.duration_since(*at) < KNOWN_FOR);
        }
        known.insert(Self::pair(user, address), now);
    }

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

    /// Regression (issue 14, finding 5): the admin's throttle keyed on the user name alone in
    /// effect, so anyone failing on `admin` kept the admin locked out.
    #[test]
    fn finding_5_a_stranger_cannot_lock_the_admin_out_of_their_own_address() {
        let t = Throttle::default();
        let t0 = Instant::now();
        t.logged_in("admin", "10.0.0.1", t0);
        for _ in 0..50 {
            t.failed(&Throttle::keys("admin", "10.6.6.6"), t0);
        }
        assert!(t.wait_for("admin", "10.6.6.6", t0).is_some());
        assert!(
            t.wait_for("admin", "10.0.0.2", t0).is_some(),
            "a new address waits"
        );
        assert_eq!(
            t.wait_for("Admin", "10.0.0.1", t0),
            None,
            "the admin's address does not"
        );
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
