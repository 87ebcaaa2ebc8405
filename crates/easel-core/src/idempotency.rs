//! The client's `Idempotency-Key`: one rule for every route that takes one.

use std::fmt;

/// The most characters a key may have.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// A valid idempotency key: 1 to 255 visible ASCII characters. [`IdempotencyKey::parse`]
/// is the only way to make one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Idempotency-Key must be 1 to 255 visible ASCII characters (no spaces)")]
pub struct InvalidIdempotencyKey;

impl IdempotencyKey {
    /// Checks `text` (a header's bytes).
    pub fn parse(text: &[u8]) -> Result<IdempotencyKey, InvalidIdempotencyKey> {
        let valid = !text.is_empty()
            && text.len() <= MAX_IDEMPOTENCY_KEY_LEN
            && text.iter().all(u8::is_ascii_graphic);
        if !valid {
            return Err(InvalidIdempotencyKey);
        }
        // Visible ASCII is UTF-8.
        String::from_utf8(text.to_vec())
            .map(IdempotencyKey)
            .map_err(|_| InvalidIdempotencyKey)
    }

    /// The key's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_for_every_route() {
        assert_eq!(
            IdempotencyKey::parse(b"retry-1").unwrap().as_str(),
            "retry-1"
        );
        assert!(IdempotencyKey::parse(&[b'a'; 255]).is_ok());
        assert!(IdempotencyKey::parse(&[b'a'; 256]).is_err());
        assert!(IdempotencyKey::parse(b"").is_err());
        assert!(IdempotencyKey::parse(b"has space").is_err());
        assert!(IdempotencyKey::parse("caf\u{e9}".as_bytes()).is_err());
        assert!(IdempotencyKey::parse(b"tab\there").is_err());
    }
}
