//! Bot protection on sign-up without a third party: a proof-of-work challenge in
//! ALTCHA's format. Easel picks a secret number up to `max_number` and publishes
//! `SHA-256(salt ‖ number)` with an HMAC of it; the client finds the number by trying
//! them all (about `max_number / 2` hashes) and sends it back with the challenge. A
//! solution is checked statelessly (HMAC, hash, the expiry written into the salt) and
//! then spent in the database, so each one signs up one account, across processes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use easel_core::now_millis;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::Identity;
use crate::error::ServiceError;

/// The only algorithm issued and accepted.
pub const ALGORITHM: &str = "SHA-256";

/// A challenge to solve, as ALTCHA's widget expects it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Always [`ALGORITHM`].
    pub algorithm: &'static str,
    /// Hex SHA-256 of the salt followed by the secret number in decimal.
    pub challenge: String,
    /// The secret number is at most this.
    pub max_number: u64,
    /// Random hex, then `?expires=` and the Unix time (seconds) it expires at.
    pub salt: String,
    /// Hex HMAC-SHA256 of `challenge` under the deployment's key.
    pub signature: String,
    /// Whether sign-ups here need a solution.
    pub required: bool,
}

/// A solution, as ALTCHA's widget sends it (base64 of this JSON).
#[derive(Debug, Deserialize)]
struct Solution {
    algorithm: String,
    challenge: String,
    number: u64,
    salt: String,
    signature: String,
}

fn invalid(message: &str) -> ServiceError {
    ServiceError::invalid(
        "invalid-challenge",
        format!("{message}; solve a new challenge (GET /v1/auth/challenge)"),
    )
}

/// The key challenges are signed with, derived from the deployment's secret `key`.
pub fn challenge_key(key: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"easel sign-up challenge");
    mac.finalize().into_bytes().to_vec()
}

fn hash_hex(salt: &str, number: u64) -> String {
    hex::encode(Sha256::digest(format!("{salt}{number}").as_bytes()))
}

/// The Unix time (seconds) written into `salt` as its `expires` parameter.
fn salt_expiry(salt: &str) -> Option<i64> {
    let (_, query) = salt.split_once('?')?;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("expires="))
        .and_then(|value| value.parse().ok())
}

impl Identity {
    fn challenge_mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.challenge_key).expect("HMAC takes any key length")
    }

    /// A new challenge, valid `[auth.challenge] ttl_secs`.
    pub fn new_challenge(&self) -> Challenge {
        let settings = self.settings().challenge;
        let mut random = [0u8; 12];
        rand::fill(&mut random);
        let expires = now_millis() / 1000 + settings.ttl_secs;
        let salt = format!("{}?expires={expires}", hex::encode(random));
        let number = rand::random_range(0..=settings.max_number);
        let challenge = hash_hex(&salt, number);
        let mut mac = self.challenge_mac();
        mac.update(challenge.as_bytes());
        Challenge {
            algorithm: ALGORITHM,
            signature: hex::encode(mac.finalize().into_bytes()),
            challenge,
            max_number: settings.max_number,
            salt,
            required: settings.enabled,
        }
    }

    /// Checks and spends a sign-up's solution when challenges are on: `challenge-required`
    /// without one, `invalid-challenge` for a malformed, forged, wrong, expired or
    /// already used one.
    pub(super) async fn spend_challenge(&self, payload: Option<&str>) -> Result<(), ServiceError> {
        if !self.settings().challenge.enabled {
            return Ok(());
        }
        let Some(payload) = payload else {
            return Err(ServiceError::invalid(
                "challenge-required",
                "sign-ups here need a solved proof-of-work challenge in `altcha` \
                 (GET /v1/auth/challenge; the web UI solves it for you)",
            ));
        };
        let solution: Solution = STANDARD
            .decode(payload.trim())
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or_else(|| invalid("`altcha` is not a base64 JSON solution"))?;
        if solution.algorithm != ALGORITHM {
            return Err(invalid("the algorithm must be SHA-256"));
        }
        let signature = hex::decode(&solution.signature)
            .map_err(|_| invalid("the challenge's signature is not hex"))?;
        let mut mac = self.challenge_mac();
        mac.update(solution.challenge.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| invalid("this challenge was not issued here"))?;
        let now = now_millis();
        let expires = salt_expiry(&solution.salt)
            .ok_or_else(|| invalid("the challenge's salt has no expiry"))?;
        if expires * 1000 < now {
            return Err(invalid("the challenge expired"));
        }
        if hash_hex(&solution.salt, solution.number) != solution.challenge {
            return Err(invalid("the number does not solve the challenge"));
        }
        if !self
            .store
            .spend_challenge(&solution.challenge, expires * 1000, now)
            .await?
        {
            return Err(invalid("this solution was already used"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_read_from_the_salt() {
        assert_eq!(salt_expiry("abc?expires=1700000000"), Some(1_700_000_000));
        assert_eq!(salt_expiry("abc?x=1&expires=5"), Some(5));
        assert_eq!(salt_expiry("abc"), None);
        assert_eq!(salt_expiry("abc?expires=soon"), None);
    }

    #[test]
    fn the_hash_is_of_salt_then_decimal_number() {
        // ALTCHA's definition: SHA-256 over the salt's text followed by the number's
        // (the expected value is Python's hashlib.sha256(b"ab?expires=942")).
        assert_eq!(
            hash_hex("ab?expires=9", 42),
            "1875522279a2f6f10bfd88ab4c90e5e1a6d1e35e5bbc0f2c26d97ad986e2903c"
        );
    }
}
