//! The six-digit codes e-mailed to account holders (address verification, e-mail
//! change, password reset): stored hashed with the account id, one live code per
//! account and purpose, with the store's limits on tries and on codes sent per hour.

use easel_core::now_millis;
use easel_store::{CodeCheck, Issued};
use sha2::{Digest, Sha256};

use super::Identity;
use crate::error::{ErrorKind, ServiceError};

/// What a code is for; each purpose has its own live code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    /// Proving the address an account signed up with.
    VerifyEmail,
    /// Proving the address an account asked to change to.
    ChangeEmail,
    /// Setting a new password without the old one.
    ResetPassword,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify-email",
            Purpose::ChangeEmail => "change-email",
            Purpose::ResetPassword => "password-reset",
        }
    }

    /// How long a code stays valid: a day to verify an address (as Cognito's), a
    /// quarter of an hour to reset a password.
    fn ttl_ms(self) -> i64 {
        match self {
            Purpose::VerifyEmail | Purpose::ChangeEmail => 24 * 3_600_000,
            Purpose::ResetPassword => 15 * 60_000,
        }
    }
}

fn code_hash(user: &str, code: &str) -> String {
    hex::encode(Sha256::digest(format!("{user}:{code}").as_bytes()))
}

/// The one answer to a wrong, used or stale code, whoever asks: 403, as for a wrong
/// credential (the request is well formed; the code does not grant what it asks).
pub(super) fn invalid_code() -> ServiceError {
    ServiceError::new(
        ErrorKind::Forbidden,
        "invalid-code",
        "the code is wrong, used or expired; ask for a new one",
    )
}

impl Identity {
    /// A new live code of `user` for `purpose` (any earlier one is void), or `None` when
    /// too many were sent this hour.
    pub(super) async fn issue_code(
        &self,
        user: &str,
        purpose: Purpose,
    ) -> Result<Option<String>, ServiceError> {
        let code = format!("{:06}", rand::random_range(0..1_000_000u32));
        let now = now_millis();
        let issued = self
            .store
            .issue_code(
                user,
                purpose.as_str(),
                &code_hash(user, &code),
                now + purpose.ttl_ms(),
                now,
            )
            .await?;
        Ok((issued == Issued::Issued).then_some(code))
    }

    /// Whether `code` is `user`'s live code for `purpose`; a right one is used up, a
    /// wrong one counts a try.
    pub(super) async fn use_code(
        &self,
        user: &str,
        purpose: Purpose,
        code: &str,
    ) -> Result<bool, ServiceError> {
        let check = self
            .store
            .use_code(
                user,
                purpose.as_str(),
                &code_hash(user, code.trim()),
                now_millis(),
            )
            .await?;
        Ok(check == CodeCheck::Valid)
    }
}
