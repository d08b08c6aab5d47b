//! The waiting room's proof of work as a script would solve it: the first decimal nonce whose
//! SHA-256(`challenge` + ":" + nonce) starts with `bits` zero bits.

use sha2::{Digest, Sha256};

pub fn solve(challenge: &str, bits: u32) -> String {
    let prefix = Sha256::new_with_prefix(format!("{challenge}:").as_bytes());
    (0u64..)
        .map(|n| n.to_string())
        .find(|nonce| {
            let digest = prefix.clone().chain_update(nonce.as_bytes()).finalize();
            leading_zero_bits(&digest) >= bits
        })
        .unwrap_or_default()
}

fn leading_zero_bits(digest: &[u8]) -> u32 {
    let mut bits = 0;
    for byte in digest {
        if *byte != 0 {
            return bits + byte.leading_zeros();
        }
        bits += 8;
    }
    bits
}
