//! Identity: who is calling and how they prove it. Accounts ([`accounts`]: sign-up,
//! sign-in with lockout, refresh-token rotation, sign-out, password change), keys
//! ([`keys`]: API keys and SigV4 access keys), and credential resolution
//! ([`credentials`]: bearer tokens of Easel or a trusted issuer, API keys, access keys)
//! to an [`Authenticated`] principal. Token signing and verification live in
//! [`tokens`], password hashing in [`passwords`]. Account e-mail: address verification
//! and change ([`verification`]), password reset ([`recovery`]), both with the one-time
//! codes of [`codes`]; the sign-up proof-of-work is [`challenge`].

pub mod access_keys;
mod accounts;
pub mod challenge;
mod codes;
mod credentials;
pub mod external;
pub mod jwt;
mod keyring;
mod keys;
pub mod passwords;
mod preferences;
mod recovery;
mod settings;
mod tokens;
mod verification;

use std::sync::Arc;

use easel_core::Principal;
use easel_store::IdentityStore;

use crate::audit::Auditor;
use crate::mail::Mailer;

pub use accounts::{Session, SignedUp};
pub use credentials::{API_KEY_PREFIX, AccessKeyHolder, Credential, api_key_hash};
pub use external::{ExternalVerifier, install_tls_provider};
pub use jwt::{Claims, SigningKey, TokenError, TokenUse};
pub use keyring::{KeyRing, PUBLISH_BEFORE_SIGNING_MS, RingKey};
pub use keys::{CreatedKey, KeyKind, KeySecret};
pub use preferences::MailSettings;
pub use settings::{
    AuthMode, AuthSettings, ChallengeSettings, EmailVerification, ExternalIssuer, PasswordPolicy,
};
pub use tokens::{IssuedTokens, Issuer, Tokens};
pub use verification::EmailStatus;

/// The group whose members are administrators.
pub const ADMIN_GROUP: &str = "admin";

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// An access token Easel issued.
    Token,
    /// An access token of an external issuer.
    External,
    /// An API key.
    ApiKey,
    /// A SigV4 signature by an access key.
    AccessKey,
    /// Nothing: `auth.mode = "none"`.
    NoAuth,
}

impl Via {
    /// The name shown by `GET /v1/me`.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Token => "token",
            Via::External => "external-token",
            Via::ApiKey => "api-key",
            Via::AccessKey => "access-key",
            Via::NoAuth => "none",
        }
    }
}

/// An authenticated caller with what identity knows about them.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// Id and role.
    pub principal: Principal,
    /// The sign-in name, when known.
    pub username: Option<String>,
    /// The assigned plan (`None`: the default).
    pub plan: Option<String>,
    /// The credential used.
    pub via: Via,
}

/// The identity flows over one store.
pub struct Identity {
    store: Arc<dyn IdentityStore>,
    tokens: Arc<Tokens>,
    audit: Arc<Auditor>,
    /// Account e-mail (codes); `None` without an `[email]` server.
    mailer: Option<Mailer>,
    /// The key sign-up challenges are signed with.
    challenge_key: Vec<u8>,
}

impl Identity {
    /// Identity over `store`, issuing and checking tokens with `tokens`.
    pub fn new(
        store: Arc<dyn IdentityStore>,
        tokens: Arc<Tokens>,
        audit: Arc<Auditor>,
        mailer: Option<Mailer>,
        challenge_key: Vec<u8>,
    ) -> Self {
        Identity {
            store,
            tokens,
            audit,
            mailer,
            challenge_key,
        }
    }

    /// Token issuing and verification (the JWKS shows its key).
    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    /// The settings.
    pub fn settings(&self) -> &AuthSettings {
        &self.tokens.settings
    }
}

impl Identity {
    /// The newest `limit` (1 to 1000) audit events, of one principal or of everyone:
    /// for administrators only (a refusal is itself audited).
    pub async fn audit_log(
        &self,
        context: &crate::audit::RequestContext,
        caller: &Principal,
        principal: Option<&str>,
        limit: u32,
    ) -> Result<Vec<easel_store::AuditEvent>, crate::ServiceError> {
        if !caller.admin {
            let detail = Some("read the audit log".to_owned());
            self.audit
                .record(
                    context,
                    "permission-denied",
                    crate::audit::Actor::principal(&caller.id),
                    detail,
                )
                .await;
            return Err(crate::ServiceError::forbidden(
                "only administrators may read the audit log",
            ));
        }
        if !(1..=1000).contains(&limit) {
            return Err(crate::ServiceError::invalid(
                "invalid-query",
                "limit must be between 1 and 1000",
            ));
        }
        Ok(self.audit.list(principal, limit).await?)
    }
}
