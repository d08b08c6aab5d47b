//! Slow password hashing (Argon2id, from `flashsale_core::secrets`), off the async threads
//! and bounded in number.
//!
//! Each hash takes tens of milliseconds and about 19 MiB; a login storm must not starve the
//! request threads nor exhaust memory, so hashes run on the blocking pool behind a semaphore.

use flashsale_core::secrets::{hash_password, verify_password};
use std::sync::Arc;
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("password hashing was interrupted")]
    Interrupted,
}

#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// A real hash of a random password: verifying against it when the user does not exist
    /// takes as long as a real check, so timing does not reveal which user names exist.
    decoy: Arc<String>,
}

impl Passwords {
    pub fn new(concurrent: usize) -> Result<Self, PasswordError> {
        let decoy = hash_now(&flashsale_core::secrets::random_secret())?;
        Ok(Passwords {
            permits: Arc::new(Semaphore::new(concurrent.max(1))),
            decoy: Arc::new(decoy),
        })
    }

    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| PasswordError::Interrupted)?;
        let password = password.to_string();
        tokio::task::spawn_blocking(move || hash_now(&password))
            .await
            .map_err(|_| PasswordError::Interrupted)?
    }

    /// Whether `password` matches `stored`; with `None` (no such user) checks against the decoy
    /// and returns false.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let known = stored.is_some();
        let stored = stored.unwrap_or(&self.decoy).to_string();
        let password = password.to_string();
        let matched = tokio::task::spawn_blocking(move || verify_password(&password, &stored))
            .await
            .unwrap_or(false);
        known && matched
    }
}

fn hash_now(password: &str) -> Result<String, PasswordError> {
    hash_password(password).map_err(|e| PasswordError::Hash(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let p = Passwords::new(2).expect("passwords");
        let h = p.hash("correct horse").await.expect("hash");
        assert!(!h.contains("correct horse"));
        assert!(p.verify("correct horse", Some(&h)).await);
        assert!(!p.verify("wrong horse", Some(&h)).await);
        assert!(!p.verify("correct horse", None).await);
    }
}
