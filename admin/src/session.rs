//! Login sessions: a random token in an HttpOnly, SameSite=Strict cookie, and per session a
//! CSRF token that every form carries and every POST must send back.
//!
//! Sessions live in the database (table `admin_sessions`), so an admin restart does not log
//! the staff out. Tokens are stored by their SHA-256, so the table holds nothing a cookie
//! could be made from. Times are unix seconds, passed in, so tests need not wait for expiry.

use axum::http::HeaderMap;
use flashsale_core::db::{DbError, StoredSession};
use flashsale_core::Db;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The session cookie.
pub const COOKIE: &str = "fs_admin";
/// The login form's own CSRF cookie (double submit): there is no session before login.
pub const LOGIN_COOKIE: &str = "fs_admin_login";
/// How long a login lasts.
pub const TTL: Duration = Duration::from_secs(12 * 3600);

#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    /// Sent back by every form of this session.
    pub csrf: String,
}

/// The sessions table.
#[derive(Clone)]
pub struct Sessions {
    db: Db,
}

impl Sessions {
    pub fn new(db: Db) -> Self {
        Sessions { db }
    }

    /// A new session for `user`, from `now` (unix seconds); returns the cookie's token.
    pub async fn create(&self, user: &str, now: i64) -> Result<String, DbError> {
        let token = random_token();
        let session = StoredSession {
            user_name: user.to_string(),
            csrf: random_token(),
            expires_at: now + TTL.as_secs() as i64,
        };
        self.db
            .put_admin_session(&key(&token), &session, now)
            .await?;
        Ok(token)
    }

    /// The live session of `token` at `now`, if any.
    pub async fn get(&self, token: &str, now: i64) -> Result<Option<Session>, DbError> {
        Ok(self
            .db
            .admin_session(&key(token), now)
            .await?
            .map(|s| Session {
                user: s.user_name,
                csrf: s.csrf,
            }))
    }

    pub async fn remove(&self, token: &str) -> Result<(), DbError> {
        self.db.remove_admin_session(&key(token)).await
    }
}

/// What is stored for `token`: its SHA-256, in hex.
fn key(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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

    #[tokio::test]
    async fn a_session_lives_until_it_expires_or_is_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::connect(&format!("sqlite://{}/s.db", dir.path().display()))
            .await
            .expect("connect");
        db.migrate().await.expect("migrate");
        let sessions = Sessions::new(db.clone());
        let t0 = 1_000_000;
        let token = sessions.create("admin", t0).await.expect("create");
        let s = sessions.get(&token, t0).await.expect("get").expect("live");
        assert_eq!(s.user, "admin");
        assert_ne!(s.csrf, token);
        assert!(sessions.get("forged", t0).await.expect("get").is_none());
        let ttl = TTL.as_secs() as i64;
        assert!(
            sessions.get(&token, t0 + ttl).await.expect("get").is_none(),
            "expired"
        );
        // Another handle on the same database (a restarted admin) knows the session.
        let restarted = Sessions::new(db);
        assert!(restarted.get(&token, t0).await.expect("get").is_some());
        let token = sessions.create("admin", t0).await.expect("create");
        sessions.remove(&token).await.expect("remove");
        assert!(
            restarted.get(&token, t0).await.expect("get").is_none(),
            "logged out"
        );
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
