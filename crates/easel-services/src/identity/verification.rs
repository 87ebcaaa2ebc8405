//! Proving an address, as Cognito does: a new account is sent a six-digit code (valid a
//! day, used once, five tries, three sent an hour) and is verified once it enters it;
//! until then, when verification is `required`, it can sign in but not spend quota
//! ([`Identity::check_verified`]). A change of address is only made once a code sent to
//! the new address comes back, so the account never carries an address nobody proved.
//! Without an `[email]` server, verification is off.

use easel_core::{Principal, now_millis};
use easel_store::{StoreError, User};

use super::codes::{Purpose, invalid_code};
use super::passwords::{normalize_email, verify_password};
use super::{EmailVerification, Identity};
use crate::audit::{Actor, RequestContext};
use crate::error::{ErrorKind, RateInfo, ServiceError, blocking};
use crate::mail::Letter;

/// An account's address and whether it was proved, as `GET /v1/me` shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailStatus {
    /// Whether the sign-in address was proved (always true when verification is off).
    pub verified: bool,
    /// The address the holder asked to change to and has not proved yet.
    pub pending: Option<String>,
    /// Whether unverified accounts are refused quota (`verification-required`).
    pub required: bool,
}

impl Identity {
    /// Verification in force: what `[auth] email_verification` says, or off without mail.
    pub fn email_verification(&self) -> EmailVerification {
        match self.mailer {
            Some(_) => self.settings().email_verification,
            None => EmailVerification::Off,
        }
    }

    /// `403 verification-required` when verification is required and `principal` is a
    /// local account that has not proved its address. Flows that spend quota ask first.
    pub async fn check_verified(&self, principal: &str) -> Result<(), ServiceError> {
        if self.email_verification() != EmailVerification::Required {
            return Ok(());
        }
        match self.store.user_by_id(principal).await? {
            Some(user) if user.email_verified_at.is_none() => Err(ServiceError::new(
                ErrorKind::Forbidden,
                "verification-required",
                format!(
                    "verify your e-mail address first: enter the code sent to {} \
                     (POST /v1/auth/verify-email), or ask for a new one \
                     (POST /v1/auth/resend-verification)",
                    user.username
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The address status of `user`.
    pub fn email_status(&self, user: &User) -> EmailStatus {
        let verification = self.email_verification();
        EmailStatus {
            verified: verification == EmailVerification::Off || user.email_verified_at.is_some(),
            pending: user.pending_email.clone(),
            required: verification == EmailVerification::Required,
        }
    }

    /// Sends `user` a code proving their sign-in address, when verification is on.
    /// Returns whether one went out (not when off, or too many were sent this hour).
    pub(super) async fn send_verification(&self, user: &User) -> Result<bool, ServiceError> {
        if self.email_verification() == EmailVerification::Off {
            return Ok(false);
        }
        let mailer = self.mailer("e-mail verification")?;
        let Some(code) = self.issue_code(&user.id, Purpose::VerifyEmail).await? else {
            return Ok(false);
        };
        let link = mailer.ui_link(
            "#/verify-email",
            &[("email", &user.username), ("code", &code)],
        );
        let letter = Letter {
            subject: "Verify your e-mail address for Easel".to_owned(),
            lead: vec![format!(
                "Welcome to Easel. To confirm that {} is your address, enter this code:",
                user.username
            )],
            code: Some(code),
            link: Some(("Or open this link".to_owned(), link)),
            tail: vec![
                "It is valid for 24 hours and works once. If you did not sign up, ignore this \
                 e-mail."
                    .to_owned(),
            ],
        };
        mailer.send(&user.id, &user.username, &letter, None).await?;
        Ok(true)
    }

    /// Proves the address `email` with the code sent to it. A wrong or stale code, or an
    /// address without an account, answers `invalid-code`.
    pub async fn verify_email(
        &self,
        context: &RequestContext,
        email: &str,
        code: &str,
    ) -> Result<(), ServiceError> {
        self.mailer("e-mail verification")?;
        let username = normalize_email(email)
            .map_err(|message| ServiceError::invalid("invalid-email", message))?;
        let Some(user) = self.store.user_by_username(&username).await? else {
            return Err(invalid_code());
        };
        if user.email_verified_at.is_some() {
            // Entering the code twice (a second click on the link) is no error.
            return Ok(());
        }
        let actor = Actor {
            principal: Some(&user.id),
            username: Some(&username),
        };
        if !self.use_code(&user.id, Purpose::VerifyEmail, code).await? {
            self.audit
                .record(context, "email-verification-failed", actor, None)
                .await;
            return Err(invalid_code());
        }
        self.store
            .set_email_verified(&user.id, now_millis())
            .await?;
        self.audit
            .record(context, "email-verified", actor, None)
            .await;
        Ok(())
    }

    /// Sends a new verification code to `email` if it is an unverified account's
    /// address. Answers the same either way, so nobody learns who has an account.
    pub async fn resend_verification(
        &self,
        context: &RequestContext,
        email: &str,
    ) -> Result<(), ServiceError> {
        self.mailer("e-mail verification")?;
        let username = normalize_email(email)
            .map_err(|message| ServiceError::invalid("invalid-email", message))?;
        let Some(user) = self.store.user_by_username(&username).await? else {
            return Ok(());
        };
        if user.disabled || user.email_verified_at.is_some() {
            return Ok(());
        }
        let sent = self.send_verification(&user).await?;
        let actor = Actor {
            principal: Some(&user.id),
            username: Some(&username),
        };
        let detail = if sent { "code sent" } else { "rate limited" };
        self.audit
            .record(
                context,
                "email-verification-requested",
                actor,
                Some(detail.into()),
            )
            .await;
        Ok(())
    }

    /// Starts a change of `caller`'s address to `new_email`: with the current password,
    /// the address is kept as pending and a code is sent to it; the account keeps its
    /// address until [`Identity::confirm_email_change`]. Returns the pending address as
    /// normalized.
    pub async fn request_email_change(
        &self,
        context: &RequestContext,
        caller: &Principal,
        new_email: &str,
        password: String,
    ) -> Result<String, ServiceError> {
        let mailer = self.mailer("changing the e-mail address")?;
        let user = self.local_account(&caller.id).await?;
        let new_email = normalize_email(new_email)
            .map_err(|message| ServiceError::invalid("invalid-email", message))?;
        let hash = user.password_hash.clone();
        if !blocking(move || verify_password(&password, Some(&hash))).await? {
            return Err(ServiceError::forbidden(
                "the current password is not correct",
            ));
        }
        if new_email == user.username {
            return Err(ServiceError::invalid(
                "same-email",
                "that is already the account's address",
            ));
        }
        if self.store.user_by_username(&new_email).await?.is_some() {
            return Err(email_taken());
        }
        let now = now_millis();
        self.store
            .set_pending_email(&user.id, Some(&new_email), now)
            .await?;
        let Some(code) = self.issue_code(&user.id, Purpose::ChangeEmail).await? else {
            return Err(ServiceError::limited(
                "too-many-codes",
                "three codes were sent in the last hour; try again later",
                3_600,
                RateInfo {
                    limit: easel_store::MAX_CODES_PER_HOUR as u64,
                    remaining: 0,
                    reset_secs: 3_600,
                },
            ));
        };
        let letter = Letter {
            subject: "Confirm your new e-mail address for Easel".to_owned(),
            lead: vec![format!(
                "The Easel account {} asked to use {new_email} from now on. To confirm that \
                 this address is yours, enter this code in Easel's account settings:",
                user.username
            )],
            code: Some(code),
            link: Some((
                "Account settings".to_owned(),
                mailer.ui_link("#/account", &[]),
            )),
            tail: vec![
                "It is valid for 24 hours and works once. If you did not ask, ignore this \
                 e-mail: nothing changes."
                    .to_owned(),
            ],
        };
        mailer.send(&user.id, &new_email, &letter, None).await?;
        let actor = Actor {
            principal: Some(&user.id),
            username: Some(&user.username),
        };
        self.audit
            .record(
                context,
                "email-change-requested",
                actor,
                Some(new_email.clone()),
            )
            .await;
        Ok(new_email)
    }

    /// Makes the pending address `caller`'s sign-in address, with the code sent to it;
    /// returns the new address.
    pub async fn confirm_email_change(
        &self,
        context: &RequestContext,
        caller: &Principal,
        code: &str,
    ) -> Result<String, ServiceError> {
        self.mailer("changing the e-mail address")?;
        let user = self.local_account(&caller.id).await?;
        let Some(new_email) = user.pending_email.clone() else {
            // 409: the account is not in the state this asks for (nothing is pending).
            return Err(ServiceError::new(
                ErrorKind::Conflict,
                "no-pending-email",
                "no change of address was asked for; ask first (POST /v1/me/email)",
            ));
        };
        let actor = Actor {
            principal: Some(&user.id),
            username: Some(&user.username),
        };
        if !self.use_code(&user.id, Purpose::ChangeEmail, code).await? {
            self.audit
                .record(context, "email-change-failed", actor, None)
                .await;
            return Err(invalid_code());
        }
        match self
            .store
            .change_username(&user.id, &new_email, now_millis())
            .await
        {
            Ok(_) => {}
            Err(StoreError::Conflict) => return Err(email_taken()),
            Err(other) => return Err(other.into()),
        }
        self.audit
            .record(
                context,
                "email-changed",
                actor,
                Some(format!("{} -> {new_email}", user.username)),
            )
            .await;
        Ok(new_email)
    }

    /// The local account of `id`; principals of external issuers have none here.
    pub(super) async fn local_account(&self, id: &str) -> Result<User, ServiceError> {
        self.store.user_by_id(id).await?.ok_or_else(|| {
            ServiceError::invalid(
                "not-a-local-account",
                "this principal has no Easel account (it signs in elsewhere)",
            )
        })
    }
}

fn email_taken() -> ServiceError {
    ServiceError::new(
        ErrorKind::Conflict,
        "username-exists",
        "an account with this email already exists",
    )
}
