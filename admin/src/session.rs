//! Login sessions: a random token in an HttpOnly, SameSite=Strict cookie, and per session a
//! CSRF token that every form carries and every POST must send back.
//!
//! Sessions live in memory: an admin restart logs the staff out, which is acceptable for a
//! back-office and keeps session secrets off the disk. Tokens are stored by their SHA-256, so
//! the table holds nothing a cookie could be made from.

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie.
pub const COOKIE: &str = "fs_admin";
/// The login form's own CSRF cookie (double submit): there is no session before login.
pub const LOGIN_COOKIE: &str = "fs_admin_login";
/// How long a login lasts.
pub const TTL: Duration = Duration::from_secs(12 * 3600);
/// Past this many sessions, expired ones are swept on each login.
const SWEEP_ABOVE: usize = 1_000;

#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    /// Sent back by every form of this session.
    pub csrf: String,
    expires: Instant,
}

#[derive(Default)]
pub struct Sessions {
    by_key: Mutex<HashMap<[u8; 32], Session>>,
}

impl Sessions {
    /// A new session for `user`; returns the cookie's token.
    pub fn create(&self, user: &str, now: Instant) -> String {
        let token = random_token();
        let session = Session {
            user: user.to_string(),
            csrf: random_token(),
            expires: now + TTL,
        };
        let mut map = self.lock();
        if map.len() > SWEEP_ABOVE {
            map.retain(|_, s| s.expires > now);
        }
        map.insert(key(&token), session);
        token
    }

    /// The live session of `token`, if any.
    pub fn get(&self, token: &str, now: Instant) -> Option<Session> {
        let mut map = self.lock();
        let k = key(token);
        match map.get(&k) {
            Some(s) if s.expires > now => Some(s.clone()),
            Some(_) => {
                map.remove(&k);
                None
            }
            None => None,
        }
    }

    pub fn remove(&self, token: &str) {
        self.lock().remove(&key(token));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        // Plain data updated in single steps: still consistent after a panic elsewhere.
        self.by_key.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// 32 random bytes as hex.
pub fn random_token() -> String {
    flashsale_core::config::random_secret()
}

/// Whether two secrets are equal, in time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    bool::from(a.ct_eq(&b))
}

/// The value of cookie `name` in the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(::cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name_raw() == Some(name))
        .and_then(|c| c.value_raw())
}

/// `Set-Cookie` for a cookie only this site's pages send, never scripts. Not `Secure`: the
/// admin is served over plain HTTP on loopback by default, where a `Secure` cookie would never
/// come back; put TLS in front of it before exposing it.
pub fn set_cookie(name: &str, value: &str, max_age: Duration) -> String {
    ::cookie::Cookie::build((name, value))
        .http_only(true)
        .same_site(::cookie::SameSite::Strict)
        .path("/")
        .max_age(::cookie::time::Duration::seconds(
            i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX),
        ))
        .build()
        .to_string()
}

pub fn clear_cookie(name: &str) -> String {
    set_cookie(name, "", Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_lives_until_it_expires_or_is_removed() {
        let sessions = Sessions::default();
        let t0 = Instant::now();
        let token = sessions.create("admin", t0);
        let s = sessions.get(&token, t0).expect("live");
        assert_eq!(s.user, "admin");
        assert_ne!(s.csrf, token);
        assert!(sessions.get("forged", t0).is_none());
        assert!(sessions.get(&token, t0 + TTL).is_none(), "expired");
        let token = sessions.create("admin", t0);
        sessions.remove(&token);
        assert!(sessions.get(&token, t0).is_none(), "logged out");
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            "cookie",
            "a=1; fs_admin=tok; fs_admin_login=x"
                .parse()
                .expect("header"),
        );
        assert_eq!(cookie(&h, COOKIE), Some("tok"));
        assert_eq!(cookie(&h, LOGIN_COOKIE), Some("x"));
        assert_eq!(cookie(&h, "b"), None);
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd"));
    }
}
