//! `sign` tokens this node has already verified, so a shopper's next click skips the AES and
//! HMAC work (the costliest part of a refused Buy).
//!
//! Safe because the key is the token's full text: only a text whose MAC was checked is ever
//! stored, and a hit must match it byte for byte. A hit still has to be unexpired, and the
//! caller still asks [`crate::sessions::Sessions`] whether the token was revoked: the cache
//! replaces the cryptography, never the revocation check. Failed verifications are not
//! stored (a forger gains nothing by repeating). Bounded: a full shard is emptied and refills
//! with whoever clicks next.

use flashsale_core::cookie::{Token, TokenError};
use flashsale_core::SignCodec;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;

/// Shards, so threads checking different shoppers rarely share a lock.
const SHARDS: usize = 32;
/// Tokens per shard: with [`SHARDS`], 65,536 shoppers (about 10 MB).
const PER_SHARD: usize = 2_048;

pub struct VerifiedTokens {
    shards: Vec<Mutex<HashMap<Box<str>, Token>>>,
    hasher: std::collections::hash_map::RandomState,
    per_shard: usize,
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        VerifiedTokens::with_capacity(SHARDS * PER_SHARD)
    }
}

impl VerifiedTokens {
    /// A cache of about `capacity` tokens.
    pub fn with_capacity(capacity: usize) -> Self {
        VerifiedTokens {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: Default::default(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    /// What `codec.verify_token(text, now)` answers, from the cache when this text verified
    /// before and has not expired since.
    pub fn verify(&self, codec: &SignCodec, text: &str, now: i64) -> Result<Token, TokenError> {
        let shard = &self.shards[self.hasher.hash_one(text) as usize % SHARDS];
        // A panic while holding the lock leaves a map of verified tokens, still true.
        let cached = shard
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(text)
            .copied();
        if let Some(token) = cached {
            if now >= token.expires {
                return Err(TokenError::Expired);
            }
            return Ok(token);
        }
        let token = codec.verify_token(text, now)?;
        let mut map = shard.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= self.per_shard {
            map.clear();
        }
        map.insert(text.into(), token);
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn codec() -> SignCodec {
        SignCodec::new(1, b"test secret, not for production")
    }

    #[test]
    fn a_verified_token_answers_the_same_from_the_cache() {
        let (codec, cache) = (codec(), VerifiedTokens::default());
        let text = codec.issue(42, NOW + 60);
        let first = cache.verify(&codec, &text, NOW).expect("valid");
        let again = cache.verify(&codec, &text, NOW + 1).expect("cached");
        assert_eq!(first, again);
        assert_eq!(again.uid, 42);
    }

    #[test]
    fn a_cached_token_still_expires() {
        let (codec, cache) = (codec(), VerifiedTokens::default());
        let text = codec.issue(42, NOW + 60);
        cache.verify(&codec, &text, NOW).expect("valid");
        assert_eq!(
            cache.verify(&codec, &text, NOW + 60),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn a_token_one_character_off_a_cached_one_is_checked_and_refused() {
        let (codec, cache) = (codec(), VerifiedTokens::default());
        let text = codec.issue(42, NOW + 60);
        cache.verify(&codec, &text, NOW).expect("valid");
        let mut forged = text.clone().into_bytes();
        let last = forged.len() - 1;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).expect("ascii");
        assert!(cache.verify(&codec, &forged, NOW).is_err());
        // Refusals are not remembered as anything: the real one still passes.
        assert!(cache.verify(&codec, &text, NOW).is_ok());
    }

    #[test]
    fn a_token_of_another_secret_is_refused_even_after_ours_was_cached() {
        let (codec, cache) = (codec(), VerifiedTokens::default());
        let other = SignCodec::new(1, b"someone else's secret");
        cache
            .verify(&codec, &codec.issue(1, NOW + 60), NOW)
            .expect("ours");
        assert!(cache
            .verify(&codec, &other.issue(1, NOW + 60), NOW)
            .is_err());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let (codec, cache) = (codec(), VerifiedTokens::with_capacity(64));
        for uid in 0..1_000 {
            cache
                .verify(&codec, &codec.issue(uid, NOW + 60), NOW)
                .expect("valid");
        }
        let held: usize = cache
            .shards
            .iter()
            .map(|s| s.lock().expect("lock").len())
            .sum();
        assert!(held <= 64, "{held} tokens held");
    }
}
