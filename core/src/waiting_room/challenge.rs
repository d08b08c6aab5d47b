//! Proof-of-work challenges: a puzzle bound to a scope (a product's line, or registration), a
//! subject (the shopper) and an expiry, MAC-signed so no store call is needed to issue it.
//!
//! Text: `1.{scope}.{subject}.{expires}.{difficulty}.{id}.{mac}`, where `mac` is HMAC-SHA256
//! over everything before it (first 16 bytes, hex) and `id` 16 random bytes (hex). The answer
//! is a `nonce` such that SHA-256(`text` + ":" + `nonce`) starts with `difficulty` zero bits.
//! Single use is the store's job: the join records `id` until `expires`.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

const VERSION: &str = "1";
/// Longest nonce accepted; a browser's counter needs a dozen digits.
const MAX_NONCE: usize = 64;

/// The key challenges are signed with, derived from the cookie secret so every gateway of a
/// ring shares it without a new secret to deploy.
#[derive(Clone)]
pub struct ChallengeKey([u8; 32]);

impl std::fmt::Debug for ChallengeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChallengeKey(<secret>)")
    }
}

/// An issued or checked challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub text: String,
    /// Unique per challenge: what the store records so it is used once.
    pub id: String,
    /// Unix seconds.
    pub expires: i64,
    pub difficulty: u8,
}

/// Why a challenge was refused; the shopper hears only `bad_challenge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    #[error("not a challenge of ours (malformed or forged)")]
    Forged,
    #[error("issued for another shopper or another product")]
    Elsewhere,
    #[error("expired")]
    Expired,
    #[error("easier than this shop asks for")]
    TooEasy,
    #[error("the nonce does not solve it")]
    Unsolved,
}

impl ChallengeKey {
    pub fn derive(secret: &[u8]) -> ChallengeKey {
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(secret).expect("HMAC accepts keys of any length");
        mac.update(b"flashsale proof-of-work challenge v1");
        ChallengeKey(mac.finalize().into_bytes().into())
    }

    fn mac(&self, body: &str) -> String {
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.0).expect("HMAC accepts keys of any length");
        mac.update(body.as_bytes());
        hex(&mac.finalize().into_bytes()[..16])
    }

    /// A new challenge for `subject` in `scope` (letters and digits only), good until `expires`.
    pub fn issue(&self, scope: &str, subject: i64, expires: i64, difficulty: u8) -> Challenge {
        use rand::RngCore;
        let mut id = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut id);
        let id = hex(&id);
        let body = format!("{VERSION}.{scope}.{subject}.{expires}.{difficulty}.{id}");
        let mac = self.mac(&body);
        Challenge {
            text: format!("{body}.{mac}"),
            id,
            expires,
            difficulty,
        }
    }

    /// Checks a solved challenge: ours, unaltered, for this scope and subject, not expired, at
    /// least `difficulty` bits, and solved by `nonce`. The cheap checks come first; the work
    /// check is one SHA-256.
    pub fn verify(
        &self,
        text: &str,
        nonce: &str,
        scope: &str,
        subject: i64,
        now_unix: i64,
        difficulty: u8,
    ) -> Result<Challenge, ChallengeError> {
        let (body, mac) = text.rsplit_once('.').ok_or(ChallengeError::Forged)?;
        let expected = self.mac(body);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            expected.as_bytes(),
            mac.as_bytes(),
        )) {
            return Err(ChallengeError::Forged);
        }
        let parts: Vec<&str> = body.split('.').collect();
        let [version, their_scope, their_subject, expires, bits, id] = parts[..] else {
            return Err(ChallengeError::Forged);
        };
        if version != VERSION {
            return Err(ChallengeError::Forged);
        }
        let expires: i64 = expires.parse().map_err(|_| ChallengeError::Forged)?;
        let bits: u8 = bits.parse().map_err(|_| ChallengeError::Forged)?;
        if their_scope != scope || their_subject != subject.to_string() {
            return Err(ChallengeError::Elsewhere);
        }
        if now_unix >= expires {
            return Err(ChallengeError::Expired);
        }
        if bits < difficulty {
            return Err(ChallengeError::TooEasy);
        }
        if nonce.is_empty()
            || nonce.len() > MAX_NONCE
            || !nonce.bytes().all(|b| b.is_ascii_graphic())
            || !solves(text, nonce, bits)
        {
            return Err(ChallengeError::Unsolved);
        }
        Ok(Challenge {
            text: text.to_string(),
            id: id.to_string(),
            expires,
            difficulty: bits,
        })
    }
}

/// Whether SHA-256(`text` + ":" + `nonce`) starts with `bits` zero bits.
pub fn solves(text: &str, nonce: &str, bits: u8) -> bool {
    let digest = Sha256::new()
        .chain_update(text.as_bytes())
        .chain_update(b":")
        .chain_update(nonce.as_bytes())
        .finalize();
    leading_zero_bits(&digest) >= u32::from(bits)
}

fn leading_zero_bits(bytes: &[u8]) -> u32 {
    let mut zeros = 0;
    for b in bytes {
        if *b == 0 {
            zeros += 8;
        } else {
            return zeros + b.leading_zeros();
        }
    }
    zeros
}

/// Finds a nonce by counting up (what a browser's worker does); for tests and benchmarks.
pub fn solve(text: &str, bits: u8) -> String {
    (0u64..)
        .map(|n| n.to_string())
        .find(|n| solves(text, n, bits))
        .unwrap_or_default()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn a_solved_challenge_passes_and_every_bad_one_is_refused() {
        let key = ChallengeKey::derive(b"secret");
        let c = key.issue("q7", 42, NOW + 60, 8);
        let nonce = solve(&c.text, 8);
        let ok = key
            .verify(&c.text, &nonce, "q7", 42, NOW, 8)
            .expect("solved");
        assert_eq!(ok.id, c.id);

        assert_eq!(
            key.verify(&c.text, &nonce, "q7", 43, NOW, 8),
            Err(ChallengeError::Elsewhere),
            "another shopper's"
        );
        assert_eq!(
            key.verify(&c.text, &nonce, "q8", 42, NOW, 8),
            Err(ChallengeError::Elsewhere),
            "another product's"
        );
        assert_eq!(
            key.verify(&c.text, &nonce, "q7", 42, NOW + 60, 8),
            Err(ChallengeError::Expired)
        );
        assert_eq!(
            key.verify(&c.text, &nonce, "q7", 42, NOW, 9),
            Err(ChallengeError::TooEasy),
            "issued easier than the shop asks now"
        );
        let altered = c.text.replace(".42.", ".43.");
        assert_eq!(
            key.verify(&altered, &nonce, "q7", 43, NOW, 8),
            Err(ChallengeError::Forged)
        );
        let other_key = ChallengeKey::derive(b"other").issue("q7", 42, NOW + 60, 8);
        assert_eq!(
            key.verify(
                &other_key.text,
                &solve(&other_key.text, 8),
                "q7",
                42,
                NOW,
                8
            ),
            Err(ChallengeError::Forged)
        );
        let unsolved = (0u64..)
            .map(|n| n.to_string())
            .find(|n| !solves(&c.text, n, 8))
            .expect("some nonce fails");
        assert_eq!(
            key.verify(&c.text, &unsolved, "q7", 42, NOW, 8),
            Err(ChallengeError::Unsolved)
        );
        for junk in ["", "1.2.3", "no dots", "1.q7.42.x.8.id.mac"] {
            assert!(key.verify(junk, "1", "q7", 42, NOW, 8).is_err(), "{junk}");
        }
    }

    #[test]
    fn zero_bits_are_counted_from_the_first_byte() {
        assert_eq!(leading_zero_bits(&[0, 0x80]), 8);
        assert_eq!(leading_zero_bits(&[0, 0x01]), 15);
        assert_eq!(leading_zero_bits(&[0x10]), 3);
        assert_eq!(leading_zero_bits(&[0, 0]), 16);
    }
}
