//! The back-office's login sessions, kept so an admin restart does not log the staff out.
//! Only the SHA-256 of a session token is stored (the caller hashes it).

use super::{Db, DbError};

/// A session as stored: whose, its CSRF token, and when it ends (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredSession {
    pub user_name: String,
    pub csrf: String,
    pub expires_at: i64,
}

impl Db {
    /// Stores a session under `token_hash`, and removes sessions that ended before `now`.
    pub async fn put_admin_session(
        &self,
        token_hash: &str,
        session: &StoredSession,
        now: i64,
    ) -> Result<(), DbError> {
        sqlx::query("DELETE FROM admin_sessions WHERE expires_at <= ?")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO admin_sessions (token_hash, user_name, csrf, expires_at) VALUES (?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(&session.user_name)
        .bind(&session.csrf)
        .bind(session.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The session stored under `token_hash`, if it has not ended at `now`.
    pub async fn admin_session(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<StoredSession>, DbError> {
        Ok(sqlx::query_as(
            "SELECT user_name, csrf, expires_at FROM admin_sessions WHERE token_hash = ? AND expires_at > ?",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Ends the session stored under `token_hash` (logout).
    pub async fn remove_admin_session(&self, token_hash: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM admin_sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
