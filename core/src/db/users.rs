//! Shoppers: accounts and password hashes.

use super::{Db, DbError};
use crate::domain::User;

/// Read by name into [`User`] (it derives `sqlx::FromRow`).
const USER_COLUMNS: &str = "id, nick_name, user_name, password_hash";

impl Db {
    pub async fn create_user(
        &self,
        nick_name: &str,
        user_name: &str,
        password_hash: &str,
    ) -> Result<i64, DbError> {
        let result = sqlx::query(
            "INSERT INTO users (nick_name, user_name, password_hash, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(nick_name)
        .bind(user_name)
        .bind(password_hash)
        .bind(crate::domain::now_unix())
        .execute(&self.pool)
        .await;
        match result {
            Ok(done) => match done.last_insert_id() {
                Some(id) => Ok(id),
                None => self.user_id_by_name(user_name).await,
            },
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(DbError::UserNameTaken),
            Err(e) => Err(e.into()),
        }
    }

    async fn user_id_by_name(&self, user_name: &str) -> Result<i64, DbError> {
        Ok(
            sqlx::query_scalar("SELECT id FROM users WHERE user_name = ?")
                .bind(user_name)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub async fn find_user_by_name(&self, user_name: &str) -> Result<Option<User>, DbError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE user_name = ?"
        ))
        .bind(user_name)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn find_user_by_id(&self, id: i64) -> Result<Option<User>, DbError> {
        Ok(
            sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Replaces a shopper's password hash (a password change); whether the shopper exists.
    pub async fn set_password_hash(&self, id: i64, password_hash: &str) -> Result<bool, DbError> {
        let done = sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(password_hash)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
