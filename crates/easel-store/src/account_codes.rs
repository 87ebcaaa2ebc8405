//! One-time codes e-mailed to account holders (password reset, as Cognito's
//! forgot-password does): one live code per account and purpose, stored hashed, with an
//! expiry, a cap on wrong tries and a cap on how many are sent per hour.

use async_trait::async_trait;
use easel_core::Millis;

use crate::StoreError;

/// Codes sent per account and purpose within an hour, at most.
pub const MAX_CODES_PER_HOUR: i64 = 3;
/// Wrong tries a code takes before it is void.
pub const MAX_CODE_TRIES: i64 = 5;

/// What [`AccountCodes::issue_code`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issued {
    /// The code is live (any earlier one is void).
    Issued,
    /// Too many codes were sent this hour; none was issued.
    RateLimited,
}

/// What [`AccountCodes::use_code`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// The code was right; it is used up.
    Valid,
    /// Wrong, expired, used up, too many tries, or no code at all: the same answer.
    Invalid,
}

/// The one-time codes.
#[async_trait]
pub trait AccountCodes: Send + Sync {
    /// Makes `code_hash` the live code of `user` for `purpose` until `expires_at`,
    /// unless [`MAX_CODES_PER_HOUR`] were issued in the hour before `now`.
    async fn issue_code(
        &self,
        user: &str,
        purpose: &str,
        code_hash: &str,
        expires_at: Millis,
        now: Millis,
    ) -> Result<Issued, StoreError>;

    /// Uses `user`'s live code for `purpose` if `code_hash` is it: the code is then gone;
    /// a wrong one counts a try, and [`MAX_CODE_TRIES`] wrong ones void it.
    async fn use_code(
        &self,
        user: &str,
        purpose: &str,
        code_hash: &str,
        now: Millis,
    ) -> Result<CodeCheck, StoreError>;
}
