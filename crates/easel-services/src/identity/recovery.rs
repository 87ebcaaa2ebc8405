//! Forgotten passwords, as Cognito's forgot-password does it: a six-digit code e-mailed
//! to the account's address (through the queue), valid 15 minutes, used once, void after
//! five wrong tries, at most three sent an hour; then a new password with the code signs
//! the account out everywhere. Answers never tell whether an address has an account.

use std::sync::Arc;

use easel_core::{EmailSpec, JobId, JobKind, now_millis};
use easel_store::{CodeCheck, Issued, Jobs as JobStore, NewJob};
use sha2::{Digest, Sha256};

use super::Identity;
use super::passwords::{hash_password, normalize_email};
use crate::audit::{Actor, RequestContext};
use crate::error::{ServiceError, blocking};

/// How long a reset code is valid.
const CODE_TTL_MS: i64 = 15 * 60_000;
const PURPOSE: &str = "password-reset";

/// Where account e-mails go out: `email` jobs in the queue.
pub struct Mailer {
    /// Where the jobs are created.
    pub jobs: Arc<dyn JobStore>,
    /// Attempts per e-mail.
    pub attempts: u32,
}

fn code_hash(user: &str, code: &str) -> String {
    hex::encode(Sha256::digest(format!("{user}:{code}").as_bytes()))
}

fn invalid_code() -> ServiceError {
    ServiceError::invalid(
        "invalid-code",
        "the code is wrong, used or expired; ask for a new one",
    )
}

impl Identity {
    fn mailer(&self) -> Result<&Mailer, ServiceError> {
        self.mailer.as_ref().ok_or_else(|| {
            ServiceError::invalid(
                "email-not-configured",
                "password reset by e-mail is off: this deployment has no [email] server",
            )
        })
    }

    /// Sends a reset code to `email` if it is an account's address. Answers the same
    /// either way (and when too many codes were sent), so nobody learns who has one.
    pub async fn forgot_password(
        &self,
        context: &RequestContext,
        email: &str,
    ) -> Result<(), ServiceError> {
        let mailer = self.mailer()?;
        let username = normalize_email(email)
            .map_err(|message| ServiceError::invalid("invalid-email", message))?;
        let actor = Actor {
            principal: None,
            username: Some(&username),
        };
        let Some(user) = self.store.user_by_username(&username).await? else {
            self.audit
                .record(
                    context,
                    "password-reset-requested",
                    actor,
                    Some("no such account".into()),
                )
                .await;
            return Ok(());
        };
        if user.disabled {
            return Ok(());
        }
        let code = format!("{:06}", rand::random_range(0..1_000_000u32));
        let now = now_millis();
        let issued = self
            .store
            .issue_code(
                &user.id,
                PURPOSE,
                &code_hash(&user.id, &code),
                now + CODE_TTL_MS,
                now,
            )
            .await?;
        if issued == Issued::RateLimited {
            self.audit
                .record(
                    context,
                    "password-reset-requested",
                    actor,
                    Some("rate limited".into()),
                )
                .await;
            return Ok(());
        }
        let spec = EmailSpec {
            to: user.username.clone(),
            subject: "Your Easel password reset code".to_owned(),
            text: format!(
                "Someone (we hope you) asked to reset the password of your Easel account.\n\n\
                 Your code: {code}\n\n\
                 It is valid for 15 minutes and works once. If you did not ask, ignore this \
                 e-mail: your password stays as it is.\n"
            ),
            html: Some(format!(
                "<!doctype html><html><body style=\"font-family:sans-serif\">\
                 <p>Someone (we hope you) asked to reset the password of your Easel account.</p>\
                 <p style=\"font-size:1.6em;letter-spacing:0.2em\"><strong>{code}</strong></p>\
                 <p>It is valid for 15 minutes and works once. If you did not ask, ignore this \
                 e-mail: your password stays as it is.</p></body></html>"
            )),
        };
        let job = NewJob {
            id: JobId::new(),
            owner: user.id.clone(),
            kind: JobKind::Email,
            spec: serde_json::to_value(&spec).map_err(ServiceError::internal)?,
            image_count: 0,
            max_attempts: mailer.attempts,
            idempotency_key: None,
            request_hash: format!("password-reset:{}", user.id),
            expires_at: None,
        };
        mailer.jobs.create(job).await?;
        let actor = Actor {
            principal: Some(&user.id),
            username: Some(&username),
        };
        self.audit
            .record(
                context,
                "password-reset-requested",
                actor,
                Some("code sent".into()),
            )
            .await;
        Ok(())
    }

    /// Sets a new password with a code from [`Identity::forgot_password`]; every sign-in
    /// of the account ends. A wrong or stale code answers `invalid-code`, whoever asks.
    pub async fn reset_password(
        &self,
        context: &RequestContext,
        email: &str,
        code: &str,
        new_password: String,
    ) -> Result<(), ServiceError> {
        self.mailer()?;
        self.check_password_policy(&new_password)?;
        let username = normalize_email(email)
            .map_err(|message| ServiceError::invalid("invalid-email", message))?;
        let Some(user) = self.store.user_by_username(&username).await? else {
            return Err(invalid_code());
        };
        let now = now_millis();
        let check = self
            .store
            .use_code(&user.id, PURPOSE, &code_hash(&user.id, code.trim()), now)
            .await?;
        let actor = Actor {
            principal: Some(&user.id),
            username: Some(&username),
        };
        if check != CodeCheck::Valid || user.disabled {
            self.audit
                .record(context, "password-reset-failed", actor, None)
                .await;
            return Err(invalid_code());
        }
        let hash = blocking(move || hash_password(&new_password))
            .await?
            .map_err(ServiceError::internal)?;
        self.store.set_password_hash(&user.id, &hash, now).await?;
        self.store.revoke_user_refresh_tokens(&user.id, now).await?;
        self.audit
            .record(context, "password-reset", actor, None)
            .await;
        Ok(())
    }
}
