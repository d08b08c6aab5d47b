//! The `sign` cookie: proof that a shopper logged in.
//!
//! `base64url(version ‖ iv ‖ AES-256-CBC(enc_key, PKCS7(uid ‖ expires)) ‖ HMAC-SHA256(mac_key, version ‖ iv ‖ ciphertext))`.
//! Encrypt-then-MAC with a fresh random IV per token; the MAC is checked in constant time
//! before anything is decrypted, so a forged or altered token never reaches the cipher. The
//! version byte picks a key pair, so keys can rotate while older tokens stay valid.

use aes::cipher::{
    block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, InnerIvInit, KeyInit, KeyIvInit,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::collections::HashMap;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;
type HmacSha256 = Hmac<Sha256>;

const IV_LEN: usize = 16;
const MAC_LEN: usize = 32;
/// uid (8) + expires (8) is 16 bytes, which PKCS7 pads to two AES blocks.
const CIPHERTEXT_LEN: usize = 32;
const TOKEN_LEN: usize = 1 + IV_LEN + CIPHERTEXT_LEN + MAC_LEN;
/// Longest base64url text of a token; anything longer is refused before decoding.
const MAX_TEXT_LEN: usize = TOKEN_LEN.div_ceil(3) * 4;

/// Why a token was refused. Callers answer every variant with the same `unauthorized`;
/// the detail is only for tests and debug logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is not well-formed")]
    Malformed,
    #[error("token was signed with an unknown key version")]
    UnknownVersion,
    #[error("token signature does not match")]
    BadSignature,
    #[error("token has expired")]
    Expired,
}

#[derive(Clone)]
struct KeyPair {
    enc: [u8; 32],
    mac: [u8; 32],
    /// The same keys with their set-up done once (HMAC's padded key blocks, AES's key
    /// schedule): verifying is on every request that carries a token, and the set-up would
    /// be half of HMAC's hashing.
    keyed_mac: HmacSha256,
    cipher: aes::Aes256,
}

impl KeyPair {
    /// Two independent keys from one secret, so one secret in config is enough.
    fn derive(secret: &[u8]) -> Self {
        let derive = |label: &[u8]| -> [u8; 32] {
            let mut mac = <HmacSha256 as Mac>::new_from_slice(secret)
                .expect("HMAC accepts keys of any length");
            mac.update(label);
            mac.finalize().into_bytes().into()
        };
        let enc = derive(b"flashsale sign cookie: encryption key");
        let mac = derive(b"flashsale sign cookie: mac key");
        KeyPair {
            enc,
            mac,
            keyed_mac: <HmacSha256 as Mac>::new_from_slice(&mac)
                .expect("HMAC accepts keys of any length"),
            cipher: aes::Aes256::new(&enc.into()),
        }
    }
}

/// Issues and checks `sign` tokens.
#[derive(Clone)]
pub struct SignCodec {
    current: u8,
    /// Per version, the current key pair first, then older ones still accepted (rotation).
    keys: HashMap<u8, Vec<KeyPair>>,
}

/// What an authentic, unexpired token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub uid: i64,
    /// Unix seconds.
    pub expires: i64,
    /// Names this one token (the first half of its MAC): what a logout revokes.
    pub id: [u8; 16],
}

impl Token {
    /// The id as hex, as the session store keeps it.
    pub fn id_hex(&self) -> String {
        self.id.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Debug for SignCodec {
    // Keys must never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignCodec")
            .field("current", &self.current)
            .field("versions", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl SignCodec {
    /// A codec that issues with `version` and the keys derived from `secret`.
    pub fn new(version: u8, secret: &[u8]) -> Self {
        let mut keys = HashMap::new();
        keys.insert(version, vec![KeyPair::derive(secret)]);
        SignCodec {
            current: version,
            keys,
        }
    }

    /// Also accept tokens of an older key (rotation: issue new, still read old). `version` may
    /// be the current one: the MAC then tells which secret made the token.
    pub fn accept_old(mut self, version: u8, secret: &[u8]) -> Self {
        self.keys
            .entry(version)
            .or_default()
            .push(KeyPair::derive(secret));
        self
    }

    /// A token for `uid` valid until `expires` (unix seconds).
    pub fn issue(&self, uid: i64, expires: i64) -> String {
        // `new` put the current version's pair first.
        let keys = &self.keys[&self.current][0];
        let mut iv = [0u8; IV_LEN];
        rand::thread_rng().fill_bytes(&mut iv);

        let mut plain = [0u8; 16];
        plain[..8].copy_from_slice(&uid.to_be_bytes());
        plain[8..].copy_from_slice(&expires.to_be_bytes());
        let ciphertext =
            Aes256CbcEnc::new(&keys.enc.into(), &iv.into()).encrypt_padded_vec_mut::<Pkcs7>(&plain);

        let mut token = Vec::with_capacity(TOKEN_LEN);
        token.push(self.current);
        token.extend_from_slice(&iv);
        token.extend_from_slice(&ciphertext);
        let tag = mac(&keys.mac, &token);
        token.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(token)
    }

    /// The uid inside a token, if the token is authentic and not expired at `now` (unix seconds).
    pub fn verify(&self, text: &str, now: i64) -> Result<i64, TokenError> {
        self.verify_token(text, now).map(|t| t.uid)
    }

    /// Like [`SignCodec::verify`], with the token's expiry and id.
    pub fn verify_token(&self, text: &str, now: i64) -> Result<Token, TokenError> {
        if text.is_empty() || text.len() > MAX_TEXT_LEN {
            return Err(TokenError::Malformed);
        }
        // On the stack: no allocation per request (the text's length is bounded above).
        let mut decoded = [0u8; MAX_TEXT_LEN];
        let len = URL_SAFE_NO_PAD
            .decode_slice(text, &mut decoded)
            .map_err(|_| TokenError::Malformed)?;
        let token = &decoded[..len];
        if token.len() != TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let pairs = self.keys.get(&token[0]).ok_or(TokenError::UnknownVersion)?;
        let (signed, tag) = token.split_at(TOKEN_LEN - MAC_LEN);

        let keys = pairs
            .iter()
            .find(|keys| {
                let mut check = keys.keyed_mac.clone();
                check.update(signed);
                // verify_slice compares in constant time.
                check.verify_slice(tag).is_ok()
            })
            .ok_or(TokenError::BadSignature)?;

        let iv = &signed[1..1 + IV_LEN];
        let ciphertext = &signed[1 + IV_LEN..];
        let mut buffer = [0u8; CIPHERTEXT_LEN];
        buffer.copy_from_slice(ciphertext);
        let plain = Aes256CbcDec::inner_iv_slice_init(keys.cipher.clone(), iv)
            .map_err(|_| TokenError::Malformed)?
            .decrypt_padded_mut::<Pkcs7>(&mut buffer)
            .map_err(|_| TokenError::Malformed)?;
        if plain.len() != 16 {
            return Err(TokenError::Malformed);
        }
        let uid = i64::from_be_bytes(plain[..8].try_into().map_err(|_| TokenError::Malformed)?);
        let expires = i64::from_be_bytes(plain[8..].try_into().map_err(|_| TokenError::Malformed)?);
        if now >= expires {
            return Err(TokenError::Expired);
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&tag[..16]);
        Ok(Token { uid, expires, id })
    }
}

fn mac(key: &[u8; 32], data: &[u8]) -> [u8; MAC_LEN] {
    let mut mac =
        <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn codec() -> SignCodec {
        SignCodec::new(1, b"test secret, not for production")
    }

    fn raw(text: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(text).expect("valid base64url")
    }

    #[test]
    fn round_trip() {
        let c = codec();
        for uid in [0, 1, 42, i64::MAX] {
            let t = c.issue(uid, NOW + 60);
            assert_eq!(c.verify(&t, NOW), Ok(uid));
        }
    }

    #[test]
    fn each_token_has_a_fresh_iv() {
        let c = codec();
        assert_ne!(c.issue(7, NOW + 60), c.issue(7, NOW + 60));
    }

    #[test]
    fn expired_token_is_rejected() {
        let c = codec();
        let t = c.issue(7, NOW + 60);
        assert_eq!(c.verify(&t, NOW + 59), Ok(7));
        assert_eq!(c.verify(&t, NOW + 60), Err(TokenError::Expired));
        assert_eq!(c.verify(&t, NOW + 10_000), Err(TokenError::Expired));
    }

    #[test]
    fn every_single_byte_change_is_rejected() {
        let c = codec();
        let t = c.issue(7, NOW + 60);
        let bytes = raw(&t);
        for i in 0..bytes.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] ^= flip;
                let forged = URL_SAFE_NO_PAD.encode(&b);
                assert!(
                    c.verify(&forged, NOW).is_err(),
                    "byte {i} xor {flip:#x} was accepted"
                );
            }
        }
    }

    #[test]
    fn truncated_empty_garbage_and_oversized_are_rejected() {
        let c = codec();
        let t = c.issue(7, NOW + 60);
        for cut in 0..t.len() {
            assert!(
                c.verify(&t[..cut], NOW).is_err(),
                "prefix of {cut} accepted"
            );
        }
        assert_eq!(c.verify("", NOW), Err(TokenError::Malformed));
        assert_eq!(c.verify("not base64 !!!", NOW), Err(TokenError::Malformed));
        assert_eq!(
            c.verify(&format!("{t}{t}"), NOW),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            c.verify(&"A".repeat(100_000), NOW),
            Err(TokenError::Malformed)
        );
        let mut longer = raw(&t);
        longer.push(0);
        assert!(c.verify(&URL_SAFE_NO_PAD.encode(longer), NOW).is_err());
    }

    #[test]
    fn wrong_version_is_rejected() {
        let c = codec();
        let mut b = raw(&c.issue(7, NOW + 60));
        b[0] = 2;
        assert_eq!(
            c.verify(&URL_SAFE_NO_PAD.encode(&b), NOW),
            Err(TokenError::UnknownVersion)
        );
    }

    /// What the ciphertext of `token` decrypts to, MAC unchecked: the uid an attacker who
    /// edits a token would get if the MAC did not stop them.
    fn uid_inside_unchecked(c: &SignCodec, token: &[u8]) -> Option<i64> {
        let keys = &c.keys[&token[0]][0];
        let signed = &token[..TOKEN_LEN - MAC_LEN];
        let plain = Aes256CbcDec::new_from_slices(&keys.enc, &signed[1..1 + IV_LEN])
            .ok()?
            .decrypt_padded_vec_mut::<Pkcs7>(&signed[1 + IV_LEN..])
            .ok()?;
        Some(i64::from_be_bytes(plain[..8].try_into().ok()?))
    }

    #[test]
    fn token_of_one_uid_never_validates_as_another() {
        let c = codec();
        let uids = [0, 1, 2, 7, 42, 255, 256, 1 << 20, i64::MAX, -1];
        for a in uids {
            let token_a = raw(&c.issue(a, NOW + 60));
            assert_eq!(c.verify(&URL_SAFE_NO_PAD.encode(&token_a), NOW), Ok(a));
            for b in uids.into_iter().filter(|b| *b != a) {
                // CBC is malleable: flipping IV bits flips the same bits of the first block,
                // so this token's ciphertext now says uid `b` (the thesis's cookie fell to it).
                let mut flipped = token_a.clone();
                for (i, x) in (a ^ b).to_be_bytes().iter().enumerate() {
                    flipped[1 + i] ^= x;
                }
                assert_eq!(
                    uid_inside_unchecked(&c, &flipped),
                    Some(b),
                    "the forgery works"
                );
                assert_eq!(
                    c.verify(&URL_SAFE_NO_PAD.encode(&flipped), NOW),
                    Err(TokenError::BadSignature),
                    "uid {a}'s token edited to say {b} was accepted"
                );
                // Another shopper's MAC on this shopper's ciphertext, and the other way round.
                let token_b = raw(&c.issue(b, NOW + 60));
                for (body, tag) in [(&token_a, &token_b), (&token_b, &token_a)] {
                    let mut spliced = body[..TOKEN_LEN - MAC_LEN].to_vec();
                    spliced.extend_from_slice(&tag[TOKEN_LEN - MAC_LEN..]);
                    assert!(
                        c.verify(&URL_SAFE_NO_PAD.encode(&spliced), NOW).is_err(),
                        "a token spliced from uids {a} and {b} was accepted"
                    );
                }
            }
        }
    }

    #[test]
    fn another_secret_rejects_the_token() {
        let t = codec().issue(7, NOW + 60);
        let other = SignCodec::new(1, b"another secret");
        assert_eq!(other.verify(&t, NOW), Err(TokenError::BadSignature));
    }

    #[test]
    fn keys_rotate() {
        let old = SignCodec::new(1, b"old secret");
        let t_old = old.issue(7, NOW + 60);
        let new = SignCodec::new(2, b"new secret").accept_old(1, b"old secret");
        assert_eq!(new.verify(&t_old, NOW), Ok(7));
        let t_new = new.issue(8, NOW + 60);
        assert_eq!(raw(&t_new)[0], 2);
        assert_eq!(new.verify(&t_new, NOW), Ok(8));
        assert_eq!(old.verify(&t_new, NOW), Err(TokenError::UnknownVersion));
    }

    #[test]
    fn previous_secrets_of_the_same_version_verify_and_unknown_ones_do_not() {
        let old = SignCodec::new(1, b"old secret").issue(7, NOW + 60);
        let rotated = SignCodec::new(1, b"new secret").accept_old(1, b"old secret");
        assert_eq!(rotated.verify(&old, NOW), Ok(7));
        let new = rotated.issue(8, NOW + 60);
        assert_eq!(
            SignCodec::new(1, b"new secret").verify(&new, NOW),
            Ok(8),
            "new tokens use the current secret"
        );
        let stranger = SignCodec::new(1, b"unknown secret").issue(9, NOW + 60);
        assert_eq!(
            rotated.verify(&stranger, NOW),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn each_token_has_its_own_id() {
        let c = codec();
        let a = c.verify_token(&c.issue(7, NOW + 60), NOW).expect("valid");
        let b = c.verify_token(&c.issue(7, NOW + 60), NOW).expect("valid");
        assert_eq!((a.uid, a.expires), (7, NOW + 60));
        assert_ne!(a.id, b.id);
    }

    #[test]
    fn each_token_id_reads_as_32_hex_digits_of_its_id() {
        let c = codec();
        let a = c.verify_token(&c.issue(7, NOW + 60), NOW).expect("valid");
        let b = c.verify_token(&c.issue(7, NOW + 60), NOW).expect("valid");
        let hex = a.id_hex();
        assert_eq!(hex.len(), 32, "{hex}");
        let bytes: Vec<u8> = (0..32)
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digits"))
            .collect();
        assert_eq!(bytes, a.id, "{hex}");
        assert_eq!(hex, hex.to_lowercase());
        // The session store keys revocations by this text: two tokens never share it.
        assert_ne!(hex, b.id_hex());
    }

    #[test]
    fn debug_names_the_version_and_never_shows_keys() {
        let shown = format!("{:?}", codec());
        assert!(!shown.contains("enc") && !shown.contains("mac"), "{shown}");
        assert!(
            shown.starts_with("SignCodec") && shown.contains("current: 1"),
            "{shown}"
        );
    }
}
