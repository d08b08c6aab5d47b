//! Slowing down password guessing and mass registration, per user name and per client address.
//!
//! Each key (a user name, a client address) may fail `limit` times in a window; further
//! attempts are answered `429` with the seconds until the window ends, without checking the
//! password at all. Nothing locks an owner out for good:
//! - every window ends by itself, so the longest wait is one window;
//! - a success from an address clears that address's failures;
//! - an address the owner has logged in from before is not held back by the failures of their
//!   user name, so a stranger guessing from elsewhere cannot keep the owner out.
//!
//! The counts are per gateway node and bounded by a sweep of ended windows (housekeeping).
//! Time is passed in, so tests need not sleep.

use dashmap::DashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

/// Most keys one limiter tracks at once (about 100 MB at worst).
pub const MAX_KEYS: usize = 1_000_000;

/// Counts events per key in fixed windows.
pub struct Limiter {
    limit: u32,
    window: Duration,
    counts: DashMap<String, Window>,
}

impl Limiter {
    pub fn new(limit: u32, window: Duration) -> Self {
        Limiter {
            limit: limit.max(1),
            window,
            counts: DashMap::new(),
        }
    }

    /// `Err(wait)` when `key` has used its limit in the current window.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        match self.counts.get(key) {
            Some(w) if w.count >= self.limit => {
                let ends = w.started + self.window;
                if ends > now {
                    Err(ends - now)
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// Counts one event for `key`. Past [`MAX_KEYS`] keys a new one is not tracked (memory
    /// stays bounded under guesses of random user names; the per-address limit still holds).
    pub fn hit(&self, key: &str, now: Instant) {
        if self.counts.len() >= MAX_KEYS && !self.counts.contains_key(key) {
            return;
        }
        let mut entry = self.counts.entry(key.to_string()).or_insert(Window {
            started: now,
            count: 0,
        });
        if now.duration_since(entry.started) >= self.window {
            *entry = Window {
                started: now,
                count: 0,
            };
        }
        entry.count += 1;
    }

    pub fn clear(&self, key: &str) {
        self.counts.remove(key);
    }

    /// Forgets ended windows.
    pub fn sweep(&self, now: Instant) {
        self.counts
            .retain(|_, w| now.duration_since(w.started) < self.window);
    }
}

/// The login and registration throttles of one gateway.
pub struct Throttle {
    names: Limiter,
    addresses: Limiter,
    registrations: Limiter,
    /// `name\naddress` pairs that logged in successfully, and when: the owner's own devices.
    known: DashMap<String, Instant>,
    known_for: Duration,
}

/// The limits, from config.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub failures_per_name: u32,
    pub failures_per_address: u32,
    pub registrations_per_address: u32,
    pub window: Duration,
    /// How long an address that logged in stays known for its user name.
    pub known_for: Duration,
}

impl Default for Limits {
    /// The config's defaults.
    fn default() -> Self {
        Limits {
            failures_per_name: 10,
            failures_per_address: 30,
            registrations_per_address: 20,
            window: Duration::from_secs(300),
            known_for: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

impl Throttle {
    pub fn new(limits: Limits) -> Self {
        Throttle {
            names: Limiter::new(limits.failures_per_name, limits.window),
            addresses: Limiter::new(limits.failures_per_address, limits.window),
            registrations: Limiter::new(limits.registrations_per_address, limits.window),
            known: DashMap::new(),
            known_for: limits.known_for,
        }
    }

    fn pair(name: &str, address: IpAddr) -> String {
        format!("{}\n{address}", name.to_lowercase())
    }

    /// `Err(wait)` when a login of `name` from `address` must wait.
    pub fn login_allowed(&self, name: &str, address: IpAddr, now: Instant) -> Result<(), Duration> {
        self.addresses.check(&address.to_string(), now)?;
        let known = self
            .known
            .get(&Self::pair(name, address))
            .is_some_and(|at| now.duration_since(*at) < self.known_for);
        if known {
            return Ok(());
        }
        self.names.check(&name.to_lowercase(), now)
    }

    pub fn login_failed(&self, name: &str, address: IpAddr, now: Instant) {
        self.addresses.hit(&address.to_string(), now);
        self.names.hit(&name.to_lowercase(), now);
    }

    pub fn login_succeeded(&self, name: &str, address: IpAddr, now: Instant) {
        self.addresses.clear(&address.to_string());
        self.known.insert(Self::pair(name, address), now);
    }

    /// Counts a registration attempt; `Err(wait)` when `address` has made too many.
    pub fn register(&self, address: IpAddr, now: Instant) -> Result<(), Duration> {
        let key = address.to_string();
        self.registrations.check(&key, now)?;
        self.registrations.hit(&key, now);
        Ok(())
    }

    pub fn sweep(&self, now: Instant) {
        self.names.sweep(now);
        self.addresses.sweep(now);
        self.registrations.sweep(now);
        let known_for = self.known_for;
        self.known
            .retain(|_, at| now.duration_since(*at) < known_for);
    }
}

/// Seconds for `Retry-After`, rounded up (a rounded-down wait would be refused again).
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(60);

    fn throttle() -> Throttle {
        Throttle::new(Limits {
            failures_per_name: 5,
            failures_per_address: 20,
            registrations_per_address: 3,
            window: WINDOW,
            known_for: Duration::from_secs(3600),
        })
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn a_guessed_name_waits_until_its_window_ends() {
        let t = throttle();
        let start = Instant::now();
        for _ in 0..5 {
            assert!(t.login_allowed("alice", ip(1), start).is_ok());
            t.login_failed("alice", ip(1), start);
        }
        let wait = t.login_allowed("Alice", ip(2), start).expect_err("slowed");
        assert_eq!(wait, WINDOW);
        assert!(t.login_allowed("alice", ip(2), start + WINDOW).is_ok());
    }

    #[test]
    fn a_stranger_cannot_keep_the_owner_out_of_their_own_address() {
        let t = throttle();
        let now = Instant::now();
        t.login_succeeded("alice", ip(1), now);
        for _ in 0..50 {
            t.login_failed("alice", ip(9), now);
        }
        assert!(t.login_allowed("alice", ip(9), now).is_err());
        assert!(t.login_allowed("alice", ip(1), now).is_ok());
    }

    #[test]
    fn one_address_guessing_many_names_is_slowed_and_a_success_clears_it() {
        let t = throttle();
        let now = Instant::now();
        for i in 0..20 {
            t.login_failed(&format!("user{i}"), ip(3), now);
        }
        assert!(t.login_allowed("someone", ip(3), now).is_err());
        t.login_succeeded("someone", ip(3), now);
        assert!(t.login_allowed("other", ip(3), now).is_ok());
    }

    #[test]
    fn registrations_per_address_are_limited() {
        let t = throttle();
        let now = Instant::now();
        for _ in 0..3 {
            assert!(t.register(ip(4), now).is_ok());
        }
        assert!(t.register(ip(4), now).is_err());
        assert!(t.register(ip(5), now).is_ok());
        t.sweep(now + WINDOW);
        assert!(t.register(ip(4), now + WINDOW).is_ok());
    }
}
