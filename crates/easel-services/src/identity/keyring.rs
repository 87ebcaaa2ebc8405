//! Easel's token signing keys during rotation: every key listed verifies, and tokens are
//! signed with the newest key that has been published long enough for every process to
//! have loaded it ([`PUBLISH_BEFORE_SIGNING_MS`]), so a token never reaches a process that
//! does not know its key yet. The ring is replaced as a whole when keys are reloaded.

use std::sync::{Arc, RwLock};

use easel_core::Millis;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::Jwk;

use super::jwt::{Claims, SigningKey};

/// How long a new key is published (in JWKS, and to every process's ring) before any
/// process signs with it. Longer than the interval at which processes reload keys.
pub const PUBLISH_BEFORE_SIGNING_MS: Millis = 60_000;

/// A signing key and when it was created.
#[derive(Debug, Clone)]
pub struct RingKey {
    /// The key.
    pub key: Arc<SigningKey>,
    /// When it was created (it signs from `created_at + PUBLISH_BEFORE_SIGNING_MS`).
    pub created_at: Millis,
}

/// The signing keys of a deployment, oldest first.
#[derive(Debug, Default)]
pub struct KeyRing {
    keys: RwLock<Arc<Vec<RingKey>>>,
}

impl KeyRing {
    /// A ring of `keys` (any order).
    pub fn new(keys: Vec<RingKey>) -> KeyRing {
        let ring = KeyRing::default();
        ring.replace(keys);
        ring
    }

    /// Replaces every key (after a reload).
    pub fn replace(&self, mut keys: Vec<RingKey>) {
        keys.sort_by_key(|k| k.created_at);
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
    }

    fn snapshot(&self) -> Arc<Vec<RingKey>> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether the ring holds no key (authentication off).
    pub fn is_empty(&self) -> bool {
        self.snapshot().is_empty()
    }

    /// The key that signs at `now`: the newest one published long enough, or the oldest
    /// when none is (a fresh deployment's first key).
    pub fn signing_key(&self, now: Millis) -> Option<Arc<SigningKey>> {
        let keys = self.snapshot();
        keys.iter()
            .rev()
            .find(|k| k.created_at + PUBLISH_BEFORE_SIGNING_MS <= now)
            .or_else(|| keys.first())
            .map(|k| k.key.clone())
    }

    /// Signs `claims` with the key that signs at `now`.
    pub fn sign(&self, claims: &Claims, now: Millis) -> Result<String, String> {
        let key = self.signing_key(now).ok_or("no signing key")?;
        key.sign(claims)
    }

    /// The verification key `kid`, if the ring holds it.
    pub fn decoding_key(&self, kid: &str) -> Option<DecodingKey> {
        self.snapshot()
            .iter()
            .find_map(|k| k.key.decoding_key(kid).cloned())
    }

    /// Every public key, for the JWKS.
    pub fn jwks(&self) -> Vec<Jwk> {
        self.snapshot()
            .iter()
            .map(|k| k.key.jwk().clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8, created_at: Millis) -> RingKey {
        RingKey {
            key: Arc::new(SigningKey::from_seed(&[seed; 32]).unwrap()),
            created_at,
        }
    }

    #[test]
    fn new_keys_verify_at_once_and_sign_once_published() {
        let ring = KeyRing::new(vec![key(1, 0)]);
        let old = ring.signing_key(10).unwrap().kid().to_owned();
        ring.replace(vec![key(2, 1_000_000), key(1, 0)]);
        let new = SigningKey::from_seed(&[2; 32]).unwrap().kid().to_owned();
        assert!(ring.decoding_key(&new).is_some(), "verifies at once");
        assert_eq!(ring.jwks().len(), 2);
        let just_after = 1_000_000 + PUBLISH_BEFORE_SIGNING_MS - 1;
        assert_eq!(ring.signing_key(just_after).unwrap().kid(), old);
        let published = 1_000_000 + PUBLISH_BEFORE_SIGNING_MS;
        assert_eq!(ring.signing_key(published).unwrap().kid(), new);
        // A fresh deployment signs with its only key straight away.
        let fresh = KeyRing::new(vec![key(3, 5_000)]);
        assert!(fresh.signing_key(5_000).is_some());
        assert!(KeyRing::default().signing_key(0).is_none());
    }
}
