//! This node's copy of the revoked sessions, so checking a `sign` costs no store round trip.
//!
//! A logout records the revocation in the shared store and in this cache at once; every other
//! gateway pulls it within [`REFRESH_EVERY`]. If the store cannot be read for longer than
//! [`STALE_AFTER`], this node no longer knows whether a token was revoked elsewhere: signed-in
//! requests are then answered `503` (fail closed) rather than trusting a token that may have
//! been revoked. Nothing else is lost: the store is the stock store, so a Buy could not
//! reserve during that outage anyway, and static pages, register and login do not ask.

use flashsale_core::cookie::Token;
use flashsale_core::sessions::{Revocation, SessionError, SessionStore, CHANGES_PER_CALL};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How often the cache pulls new revocations.
pub const REFRESH_EVERY: Duration = Duration::from_millis(250);
/// How long the cache may go without a successful pull before tokens are refused.
pub const STALE_AFTER: Duration = Duration::from_secs(3);

/// Whether a verified token still logs its shopper in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Valid,
    Revoked,
    /// The revocations could not be read lately: answer 503.
    Unknown,
}

pub struct Sessions {
    store: Arc<dyn SessionStore>,
    known: RwLock<Known>,
    /// Unix milliseconds of the last successful pull.
    fresh_at: AtomicI64,
}

#[derive(Default)]
struct Known {
    cursor: u64,
    tokens: HashMap<[u8; 16], i64>,
    /// Shopper -> tokens expiring at or before this are revoked.
    users: HashMap<i64, i64>,
}

impl Known {
    fn add(&mut self, r: &Revocation) {
        match r {
            Revocation::Token { id, expires } => {
                if let Some(id) = parse_id(id) {
                    self.tokens.insert(id, *expires);
                }
            }
            Revocation::User {
                user_id,
                expires_upto,
            } => {
                let upto = self.users.entry(*user_id).or_default();
                *upto = (*upto).max(*expires_upto);
            }
        }
    }
}

fn parse_id(hex: &str) -> Option<[u8; 16]> {
    if hex.len() != 32 {
        return None;
    }
    let mut id = [0u8; 16];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(id)
}

impl Sessions {
    pub fn new(store: Arc<dyn SessionStore>) -> Self {
        Sessions {
            store,
            known: RwLock::new(Known::default()),
            fresh_at: AtomicI64::new(0),
        }
    }

    fn known(&self) -> std::sync::RwLockReadGuard<'_, Known> {
        // Updated in single inserts: consistent even after a panic elsewhere.
        self.known.read().unwrap_or_else(|e| e.into_inner())
    }

    fn known_mut(&self) -> std::sync::RwLockWriteGuard<'_, Known> {
        self.known.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `token` still stands at `now_ms` (unix milliseconds).
    pub fn standing(&self, token: &Token, now_ms: i64) -> Standing {
        let stale = STALE_AFTER.as_millis() as i64;
        if now_ms - self.fresh_at.load(Ordering::Acquire) > stale {
            return Standing::Unknown;
        }
        let known = self.known();
        let revoked = known.tokens.contains_key(&token.id)
            || known
                .users
                .get(&token.uid)
                .is_some_and(|upto| token.expires <= *upto);
        if revoked {
            Standing::Revoked
        } else {
            Standing::Valid
        }
    }

    /// The earliest expiry a new token of `uid` may have and still stand: later than any
    /// "log out everywhere" this node knows of.
    pub fn min_expiry(&self, uid: i64) -> i64 {
        self.known()
            .users
            .get(&uid)
            .map_or(i64::MIN, |upto| upto + 1)
    }

    /// Records a revocation in the store, then here (this node refuses the token at once).
    pub async fn revoke(&self, revocation: Revocation) -> Result<(), SessionError> {
        self.store.revoke(&revocation).await?;
        self.known_mut().add(&revocation);
        Ok(())
    }

    /// Pulls the revocations recorded since the last pull; call every [`REFRESH_EVERY`].
    pub async fn refresh(&self, now_ms: i64) -> Result<(), SessionError> {
        loop {
            let cursor = self.known().cursor;
            let changes = self.store.changes_since(cursor).await?;
            let mut known = self.known_mut();
            if changes.reset {
                // The store lost its history; what we know is still true.
                known.cursor = 0;
                continue;
            }
            for r in &changes.revocations {
                known.add(r);
            }
            known.cursor = changes.cursor;
            if changes.revocations.len() < CHANGES_PER_CALL {
                break;
            }
        }
        self.fresh_at.store(now_ms, Ordering::Release);
        Ok(())
    }

    /// Forgets revocations whose tokens have all expired, here and in the store.
    pub async fn sweep(&self, now: i64) -> Result<(), SessionError> {
        {
            let mut known = self.known_mut();
            known.tokens.retain(|_, expires| *expires > now);
            known.users.retain(|_, upto| *upto > now);
        }
        self.store.forget_expired(now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashsale_core::sessions::MemorySessions;

    fn token(uid: i64, expires: i64, id: u8) -> Token {
        Token {
            uid,
            expires,
            id: [id; 16],
        }
    }

    #[tokio::test]
    async fn a_revoked_token_stands_no_more_on_any_node_after_a_refresh() {
        let store: Arc<dyn SessionStore> = Arc::new(MemorySessions::new());
        let here = Sessions::new(store.clone());
        let there = Sessions::new(store);
        let now_ms = 1_000_000;
        here.refresh(now_ms).await.expect("refresh");
        there.refresh(now_ms).await.expect("refresh");
        let t = token(7, 5_000, 1);
        let hex = t.id_hex();
        here.revoke(Revocation::Token {
            id: hex,
            expires: t.expires,
        })
        .await
        .expect("revoke");
        assert_eq!(here.standing(&t, now_ms), Standing::Revoked);
        assert_eq!(
            there.standing(&t, now_ms),
            Standing::Valid,
            "not pulled yet"
        );
        there.refresh(now_ms).await.expect("refresh");
        assert_eq!(there.standing(&t, now_ms), Standing::Revoked);
        assert_eq!(there.standing(&token(7, 5_000, 2), now_ms), Standing::Valid);
    }

    #[tokio::test]
    async fn logging_out_everywhere_revokes_older_tokens_only() {
        let s = Sessions::new(Arc::new(MemorySessions::new()));
        s.refresh(0).await.expect("refresh");
        s.revoke(Revocation::User {
            user_id: 7,
            expires_upto: 5_000,
        })
        .await
        .expect("revoke");
        assert_eq!(s.standing(&token(7, 5_000, 1), 0), Standing::Revoked);
        assert_eq!(s.standing(&token(8, 5_000, 1), 0), Standing::Valid);
        assert_eq!(s.min_expiry(7), 5_001);
        assert_eq!(s.standing(&token(7, 5_001, 1), 0), Standing::Valid);
    }

    #[tokio::test]
    async fn a_cache_not_refreshed_lately_refuses_to_judge() {
        let s = Sessions::new(Arc::new(MemorySessions::new()));
        s.refresh(0).await.expect("refresh");
        let stale = STALE_AFTER.as_millis() as i64 + 1;
        assert_eq!(s.standing(&token(7, 5_000, 1), stale), Standing::Unknown);
    }
}
