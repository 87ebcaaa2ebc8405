//! SigV4 access keys: AWS-style pairs for the Bedrock-compatible endpoint. The secret of
//! a key is derived from a server secret and the key id, so no secret is stored per key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Access key ids start with this (AWS's start with `AKIA`), 20 characters in all.
pub const ACCESS_KEY_PREFIX: &str = "EAKI";

/// The secret access key of `access_key_id`: 40 URL-safe characters derived from the
/// server's secret, so nothing secret is stored per key.
pub fn derive_secret(server_secret: &[u8], access_key_id: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(server_secret).expect("HMAC takes any key length");
    mac.update(b"easel-access-key\0");
    mac.update(access_key_id.as_bytes());
    let digest = mac.finalize().into_bytes();
    URL_SAFE_NO_PAD.encode(&digest[..30])
}

/// A new access key id: the prefix and 16 random upper-case letters and digits.
pub fn new_access_key_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut random = [0u8; 16];
    rand::fill(&mut random);
    let tail: String = random
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    format!("{ACCESS_KEY_PREFIX}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_secrets_are_stable_and_distinct() {
        let id = new_access_key_id();
        assert_eq!(id.len(), 20);
        assert!(id.starts_with(ACCESS_KEY_PREFIX));
        let a = derive_secret(b"server secret", &id);
        assert_eq!(a.len(), 40);
        assert_eq!(a, derive_secret(b"server secret", &id));
        assert_ne!(a, derive_secret(b"other secret", &id));
        assert_ne!(a, derive_secret(b"server secret", &new_access_key_id()));
    }
}
