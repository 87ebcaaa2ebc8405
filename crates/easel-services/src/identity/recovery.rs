//! Forgotten passwords, as Cognito's forgot-password does it: a six-digit code e-mailed
//! to the account's address (through the queue), valid 15 minutes, used once, void after
//! five wrong tries, at most three sent an hour; then a new password with the code signs
//! the account out everywhere. Answers never tell whether an address has an account.

use easel_core::now_millis;

use super::Identity;
use super::codes::{Purpose, invalid_code};
use super::passwords::{hash_password, normalize_email};
use crate::audit::{Actor, RequestContext};
use crate::error::{ServiceError, blocking};
use crate::mail::{Letter, Mailer};

impl Identity {
    /// The mailer, or `email-not-configured` naming `what` is off.
    pub(super) fn mailer(&self, what: &str) -> Result<&Mailer, ServiceError> {
        self.mailer.as_ref().ok_or_else(|| {
            ServiceError::invalid(
                "email-not-configured",
                format!("{what} is off: this deployment has no [email] server"),
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
        let mailer = self.mailer("password reset by e-mail")?;
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
        let Some(code) = self.issue_code(&user.id, Purpose::ResetPassword).await? else {
            self.audit
                .record(
                    context,
                    "password-reset-requested",
                    actor,
                    Some("rate limited".into()),
                )
                .await;
            return Ok(());
        };
        let link = mailer.ui_link("#/reset-password", &[("email", &user.username)]);
        let letter = Letter {
            subject: "Your Easel password reset code".to_owned(),
            lead: vec![
                "Someone (we hope you) asked to reset the password of your Easel account."
                    .to_owned(),
            ],
            code: Some(code),
            link: Some(("Enter it here".to_owned(), link)),
            tail: vec![
                "It is valid for 15 minutes and works once. If you did not ask, ignore this \
                 e-mail: your password stays as it is."
                    .to_owned(),
            ],
        };
        mailer.send(&user.id, &user.username, &letter, None).await?;
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
        self.mailer("password reset by e-mail")?;
        self.check_password_policy(&new_password)?;
        let username = normalize_email(email)
            .map_err(|message| ServiceError::invalid("invalid-email", message))?;
        let Some(user) = self.store.user_by_username(&username).await? else {
            return Err(invalid_code());
        };
        let valid = self
            .use_code(&user.id, Purpose::ResetPassword, code)
            .await?;
        let actor = Actor {
            principal: Some(&user.id),
            username: Some(&username),
        };
        if !valid || user.disabled {
            self.audit
                .record(context, "password-reset-failed", actor, None)
                .await;
            return Err(invalid_code());
        }
        let hash = blocking(move || hash_password(&new_password))
            .await?
            .map_err(ServiceError::internal)?;
        let now = now_millis();
        self.store.set_password_hash(&user.id, &hash, now).await?;
        self.store.revoke_user_refresh_tokens(&user.id, now).await?;
        // Whoever reads the mailbox owns the address: a reset proves it too.
        if user.email_verified_at.is_none() {
            self.store.set_email_verified(&user.id, now).await?;
        }
        self.audit
            .record(context, "password-reset", actor, None)
            .await;
        Ok(())
    }
}
