//! Proof-of-work challenges that were solved and used: a solution signs up one account,
//! so each challenge is recorded when spent and refused after, until it expires anyway.

use async_trait::async_trait;
use easel_core::Millis;

use crate::StoreError;

/// The spent challenges.
#[async_trait]
pub trait SpentChallenges: Send + Sync {
    /// Records `challenge` as spent until `expires_at`: true the first time, false when
    /// it already was (by any process). Forgets the ones expired before `now`.
    async fn spend_challenge(
        &self,
        challenge: &str,
        expires_at: Millis,
        now: Millis,
    ) -> Result<bool, StoreError>;
}
