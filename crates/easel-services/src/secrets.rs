//! Secrets every process of a deployment shares, kept in the metadata database instead
//! of files (a second process on another machine has no access to the first one's data
//! directory): the token signing keys with their rotation, the presign key and the
//! access-key secret. Values are sealed (ChaCha20-Poly1305, the secret's name as
//! associated data) when a secrets key is configured; without one they are stored as
//! they are, and a database holding sealed values refuses to open without the key.

use std::sync::Arc;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use easel_core::Millis;
use easel_store::{Secrets, StoreError, StoredSecret};

use crate::identity::{RingKey, SigningKey};

/// What sealed values start with (then a 12-byte nonce and the ciphertext with its tag).
const SEALED: &[u8] = b"easel-sealed-v1:";
/// Names of the token signing keys: this prefix and the creation time, zero-padded so
/// names sort by age.
const SIGNING_PREFIX: &str = "token-signing/";
/// How long a replaced signing key stays published past its tokens' lifetime: room for
/// processes that signed with it until they reloaded the ring.
const RETIRE_GRACE_MS: Millis = 5 * 60_000;

/// Why a secret could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The database failed.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The value is sealed and no secrets key is configured.
    #[error(
        "the secret `{0}` is encrypted in the database, and no secrets key is configured (secrets.key or secrets.key_file)"
    )]
    NoKey(String),
    /// The value does not open with the configured key.
    #[error("the secret `{0}` does not decrypt with the configured secrets key")]
    WrongKey(String),
    /// The value is not what its name says (a signing key that is not 32 bytes).
    #[error("the secret `{0}` is not valid: {1}")]
    Invalid(String, String),
}

/// Seals and opens secret values with the configured key, if any.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Option<ChaCha20Poly1305>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretBox")
            .field("sealing", &self.cipher.is_some())
            .finish()
    }
}

impl SecretBox {
    /// Seals with `key` (32 bytes), or stores values as they are without one.
    pub fn new(key: Option<[u8; 32]>) -> SecretBox {
        SecretBox {
            cipher: key.map(|k| ChaCha20Poly1305::new(&k.into())),
        }
    }

    /// `value` as stored under `name`.
    pub fn seal(&self, name: &str, value: &[u8]) -> Vec<u8> {
        let Some(cipher) = &self.cipher else {
            return value.to_vec();
        };
        let mut nonce = [0u8; 12];
        rand::fill(&mut nonce);
        let payload = Payload {
            msg: value,
            aad: name.as_bytes(),
        };
        let sealed = cipher
            .encrypt(&Nonce::from(nonce), payload)
            .expect("sealing a short value in memory cannot fail");
        [SEALED, &nonce[..], &sealed].concat()
    }

    /// The value stored under `name`.
    pub fn open(&self, name: &str, stored: &[u8]) -> Result<Vec<u8>, SecretError> {
        let Some(body) = stored.strip_prefix(SEALED) else {
            return Ok(stored.to_vec());
        };
        let cipher = self
            .cipher
            .as_ref()
            .ok_or_else(|| SecretError::NoKey(name.to_owned()))?;
        let wrong = || SecretError::WrongKey(name.to_owned());
        let (nonce, sealed) = body.split_at_checked(12).ok_or_else(wrong)?;
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| wrong())?;
        let payload = Payload {
            msg: sealed,
            aad: name.as_bytes(),
        };
        cipher
            .decrypt(&Nonce::from(nonce), payload)
            .map_err(|_| wrong())
    }
}

/// The shared secrets of a deployment.
#[derive(Clone)]
pub struct SharedSecrets {
    store: Arc<dyn Secrets>,
    sealer: SecretBox,
}

impl SharedSecrets {
    /// Secrets in `store`, sealed by `sealer`.
    pub fn new(store: Arc<dyn Secrets>, sealer: SecretBox) -> SharedSecrets {
        SharedSecrets { store, sealer }
    }

    /// The secret `name`; when there is none yet, `initial` is stored (the first process
    /// to store one wins; every process gets the same value).
    pub async fn get_or_create(
        &self,
        name: &str,
        initial: &[u8],
        now: Millis,
    ) -> Result<Vec<u8>, SecretError> {
        let sealed = self.sealer.seal(name, initial);
        let stored = self.store.secret_or_insert(name, &sealed, now).await?;
        self.sealer.open(name, &stored.value)
    }

    /// The live signing keys, creating the first one from `initial_seed` when there is
    /// none. Keys retired by rotation (replaced more than a token lifetime ago) are left
    /// out.
    pub async fn signing_keys(
        &self,
        initial_seed: &[u8; 32],
        token_ttl_secs: i64,
        now: Millis,
    ) -> Result<Vec<RingKey>, SecretError> {
        let first = format!("{SIGNING_PREFIX}{:020}", 0);
        let mut stored = self.store.secrets_with_prefix(SIGNING_PREFIX).await?;
        if stored.is_empty() {
            let sealed = self.sealer.seal(&first, initial_seed);
            stored.push(self.store.secret_or_insert(&first, &sealed, now).await?);
        }
        let live = live_keys(stored, token_ttl_secs, now);
        live.iter().map(|s| self.ring_key(s)).collect()
    }

    /// Adds a new signing key (published now, signing once every process has loaded
    /// it) and deletes the keys it retires; returns the new key's id.
    pub async fn rotate_signing_key(
        &self,
        token_ttl_secs: i64,
        now: Millis,
    ) -> Result<String, SecretError> {
        let mut seed = [0u8; 32];
        rand::fill(&mut seed);
        let name = format!("{SIGNING_PREFIX}{now:020}");
        let sealed = self.sealer.seal(&name, &seed);
        self.store.insert_secret(&name, &sealed, now).await?;
        let stored = self.store.secrets_with_prefix(SIGNING_PREFIX).await?;
        let live: Vec<String> = live_keys(stored.clone(), token_ttl_secs, now)
            .into_iter()
            .map(|s| s.name)
            .collect();
        for retired in stored.iter().filter(|s| !live.contains(&s.name)) {
            self.store.delete_secret(&retired.name).await?;
        }
        let key = signing_key(&name, &seed)?;
        Ok(key.kid().to_owned())
    }

    fn ring_key(&self, stored: &StoredSecret) -> Result<RingKey, SecretError> {
        let seed = self.sealer.open(&stored.name, &stored.value)?;
        Ok(RingKey {
            key: Arc::new(signing_key(&stored.name, &seed)?),
            created_at: stored.created_at,
        })
    }
}

fn signing_key(name: &str, seed: &[u8]) -> Result<SigningKey, SecretError> {
    let invalid = |why: String| SecretError::Invalid(name.to_owned(), why);
    let seed: &[u8; 32] = seed
        .try_into()
        .map_err(|_| invalid(format!("{} bytes, not 32", seed.len())))?;
    SigningKey::from_seed(seed).map_err(invalid)
}

/// The keys still published at `now`, oldest first: the newest, and every older one
/// whose successor is younger than a token lifetime (plus a grace period), since tokens
/// it signed may still be in use.
fn live_keys(mut stored: Vec<StoredSecret>, token_ttl_secs: i64, now: Millis) -> Vec<StoredSecret> {
    stored.sort_by_key(|s| s.created_at);
    let keep_for = token_ttl_secs * 1000 + RETIRE_GRACE_MS;
    let successors: Vec<Option<Millis>> = stored
        .iter()
        .skip(1)
        .map(|s| Some(s.created_at))
        .chain([None])
        .collect();
    stored
        .into_iter()
        .zip(successors)
        .filter(|(_, successor)| successor.is_none_or(|at| now - at < keep_for))
        .map(|(secret, _)| secret)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(name: &str, created_at: Millis) -> StoredSecret {
        StoredSecret {
            name: name.to_owned(),
            value: Vec::new(),
            created_at,
        }
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_name() {
        let sealer = SecretBox::new(Some([9; 32]));
        let sealed = sealer.seal("presign/local", b"top secret");
        assert!(sealed.starts_with(SEALED));
        assert!(!sealed.windows(10).any(|w| w == b"top secret"));
        assert_eq!(
            sealer.open("presign/local", &sealed).unwrap(),
            b"top secret"
        );
        assert!(matches!(
            sealer.open("access-keys", &sealed),
            Err(SecretError::WrongKey(_))
        ));
        assert!(matches!(
            SecretBox::new(Some([8; 32])).open("presign/local", &sealed),
            Err(SecretError::WrongKey(_))
        ));
        assert!(matches!(
            SecretBox::new(None).open("presign/local", &sealed),
            Err(SecretError::NoKey(_))
        ));
        // Values stored before a key was configured still open.
        assert_eq!(sealer.open("x", b"plain").unwrap(), b"plain");
        assert_eq!(SecretBox::new(None).seal("x", b"plain"), b"plain");
    }

    #[test]
    fn replaced_keys_stay_published_for_a_token_lifetime() {
        let ttl = 3_600;
        let keep = ttl * 1000 + RETIRE_GRACE_MS;
        let stored = vec![secret("b", 1_000), secret("a", 0), secret("c", 10_000_000)];
        let names = |now| -> Vec<String> {
            live_keys(stored.clone(), ttl, now)
                .into_iter()
                .map(|s| s.name)
                .collect()
        };
        // `a` was replaced at 1 000 (by `b`), `b` at 10 000 000 (by `c`).
        assert_eq!(names(1_000 + keep - 1), ["a", "b", "c"]);
        assert_eq!(names(1_000 + keep), ["b", "c"]);
        assert_eq!(names(10_000_000 + keep), ["c"]);
        assert_eq!(names(i64::MAX / 2), ["c"], "the newest is always kept");
    }
}
