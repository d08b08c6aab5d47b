//! Session revocation: which `sign` tokens no longer log anyone in, shared by every gateway.
//!
//! A `sign` token is checked by its MAC alone, on any node, with no store round trip. To end a
//! session before its expiry, the node that logs a shopper out records a [`Revocation`] here,
//! where stock lives (Redis, or memory on embedded defaults). Every gateway pulls the new
//! revocations into its own cache at least once a second ([`SessionStore::changes_since`]), so
//! a Buy costs no round trip while a copied token stops working on every node within a second.
//!
//! Two kinds, both keyed so they can be forgotten once the tokens they name have expired:
//! - one token (logout on this browser): named by its [`token id`](crate::cookie::Token::id);
//! - every token of a shopper issued until now (log out everywhere, a password change): a
//!   token is revoked if its expiry is at or before `expires_upto` (tokens issued later expire
//!   later, because every token lives `session_ttl_secs` from its issue).

mod memory;
mod redis;

pub use self::redis::RedisSessions;
pub use memory::MemorySessions;

use async_trait::async_trait;

/// An ended session, or all sessions of a shopper so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// One token, named by its id (hex), which expires at `expires` (unix seconds).
    Token { id: String, expires: i64 },
    /// Every token of `user_id` that expires at or before `expires_upto`.
    User { user_id: i64, expires_upto: i64 },
}

impl Revocation {
    /// When it can be forgotten: no token it revokes is valid after this (unix seconds).
    pub fn forget_after(&self) -> i64 {
        match self {
            Revocation::Token { expires, .. } => *expires,
            Revocation::User { expires_upto, .. } => *expires_upto,
        }
    }

    /// A compact text form, as the Redis store keeps it: `t:<id>:<expires>` or `u:<uid>:<upto>`.
    pub fn encode(&self) -> String {
        match self {
            Revocation::Token { id, expires } => format!("t:{id}:{expires}"),
            Revocation::User {
                user_id,
                expires_upto,
            } => format!("u:{user_id}:{expires_upto}"),
        }
    }

    pub fn decode(text: &str) -> Option<Revocation> {
        let mut parts = text.splitn(3, ':');
        let kind = parts.next()?;
        let key = parts.next()?;
        let until: i64 = parts.next()?.parse().ok()?;
        match kind {
            "t" if !key.is_empty() && key.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Some(Revocation::Token {
                    id: key.to_string(),
                    expires: until,
                })
            }
            "u" => Some(Revocation::User {
                user_id: key.parse().ok()?,
                expires_upto: until,
            }),
            _ => None,
        }
    }
}

/// New revocations since a cursor, and the cursor to ask with next time.
#[derive(Debug, Default)]
pub struct Changes {
    pub revocations: Vec<Revocation>,
    pub cursor: u64,
    /// The store lost its history (a Redis restarted empty): the caller should ask again from
    /// 0 and keep what it already knows.
    pub reset: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("the session store is unreachable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Records a revocation for every gateway to see.
    async fn revoke(&self, revocation: &Revocation) -> Result<(), SessionError>;

    /// Revocations recorded after `cursor` (0: all still kept), in the order recorded, at most
    /// a bounded number per call (ask again with the new cursor while there are more).
    async fn changes_since(&self, cursor: u64) -> Result<Changes, SessionError>;

    /// Drops revocations whose tokens have all expired at `now` (unix seconds).
    async fn forget_expired(&self, now: i64) -> Result<(), SessionError>;
}

/// Most revocations returned by one [`SessionStore::changes_since`].
pub const CHANGES_PER_CALL: usize = 10_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocations_round_trip_as_text() {
        for r in [
            Revocation::Token {
                id: "00ff".into(),
                expires: 5,
            },
            Revocation::User {
                user_id: 42,
                expires_upto: 1_800_000_000,
            },
        ] {
            assert_eq!(Revocation::decode(&r.encode()), Some(r));
        }
        for bad in ["", "t::1", "t:zz:1", "u:x:1", "x:1:1", "t:00:x"] {
            assert_eq!(Revocation::decode(bad), None, "{bad}");
        }
    }
}
