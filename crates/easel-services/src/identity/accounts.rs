//! Accounts: sign-up, sign-in (failed sign-ins throttled per username, known or not,
//! answered alike and in about the same time whether the account exists or not),
//! refresh-token rotation with reuse detection, sign-out and password change.

use easel_core::{Principal, now_millis};
use easel_store::{NewRefreshToken, RotateOutcome, StoreError, User};
use uuid::Uuid;

use super::Identity;
use super::credentials::api_key_hash;
use super::passwords::{hash_password, normalize_email, verify_password};
use crate::audit::{Actor, RequestContext};
use crate::error::{ErrorKind, ServiceError, blocking};

/// The account just created.
#[derive(Debug, Clone)]
pub struct SignedUp {
    /// The subject id (`sub` of its tokens).
    pub user_id: String,
    /// The normalized email address.
    pub username: String,
    /// Whether a verification code was e-mailed (the address is not verified yet).
    pub verification_sent: bool,
}

/// A signed-in session: ID and access tokens and the sign-in's refresh token.
#[derive(Debug, Clone)]
pub struct Session {
    /// The ID token.
    pub id_token: String,
    /// The access token.
    pub access_token: String,
    /// Single use: refreshing returns a new one.
    pub refresh_token: String,
    /// Seconds the access token is valid.
    pub expires_in: i64,
}

fn invalid_credentials() -> ServiceError {
    ServiceError::new(
        ErrorKind::Unauthenticated,
        "invalid-credentials",
        "incorrect username or password",
    )
}

fn invalid_refresh() -> ServiceError {
    ServiceError::new(
        ErrorKind::Unauthenticated,
        "invalid-refresh-token",
        "the refresh token is not valid (expired, revoked or already used); sign in again",
    )
}

fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    format!("rt_{}", hex::encode(bytes))
}

impl Identity {
    pub(super) fn check_password_policy(&self, password: &str) -> Result<(), ServiceError> {
        self.settings()
            .password_policy
            .check(password)
            .map_err(|message| ServiceError::invalid("invalid-password", message))
    }

    /// Creates an account (when sign-up is allowed), with a solved proof-of-work
    /// `challenge` when those are on; e-mails a verification code when that is on.
    pub async fn sign_up(
        &self,
        context: &RequestContext,
        email: &str,
        password: String,
        challenge: Option<&str>,
    ) -> Result<SignedUp, ServiceError> {
        if !self.settings().allow_sign_up {
            return Err(ServiceError::forbidden(
                "self sign-up is disabled here; ask an administrator for an account",
            ));
        }
        let username = normalize_email(email)
            .map_err(|message| ServiceError::invalid("invalid-email", message))?;
        self.check_password_policy(&password)?;
        // Last of the checks, as it spends the solution.
        self.spend_challenge(challenge).await?;
        let hash = blocking(move || hash_password(&password))
            .await?
            .map_err(ServiceError::internal)?;
        let now = now_millis();
        let user = User {
            id: Uuid::new_v4().to_string(),
            username,
            password_hash: hash,
            admin: false,
            plan: None,
            disabled: false,
            created_at: now,
            updated_at: now,
            email_verified_at: None,
            pending_email: None,
            notifications: Default::default(),
        };
        match self.store.create_user(&user).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                return Err(ServiceError::new(
                    ErrorKind::Conflict,
                    "username-exists",
                    "an account with this email already exists",
                ));
            }
            Err(other) => return Err(other.into()),
        }
        let actor = Actor {
            principal: Some(&user.id),
            username: Some(&user.username),
        };
        self.audit.record(context, "signed-up", actor, None).await;
        // The account exists whatever happens to its mail: a failure to queue the code is
        // logged, and the holder can ask for another.
        let verification_sent = match self.send_verification(&user).await {
            Ok(sent) => sent,
            Err(error) => {
                tracing::error!(%error, "could not queue the verification e-mail");
                false
            }
        };
        Ok(SignedUp {
            user_id: user.id,
            username: user.username,
            verification_sent,
        })
    }

    /// Signs in with a username and password.
    pub async fn sign_in(
        &self,
        context: &RequestContext,
        username: &str,
        password: String,
    ) -> Result<Session, ServiceError> {
        let username = username.trim().to_lowercase();
        if username.is_empty() || username.len() > 254 {
            return Err(invalid_credentials());
        }
        let now = now_millis();
        let named = Actor {
            principal: None,
            username: Some(&username),
        };
        let locked_until = self.store.login_locked_until(&username).await?;
        if locked_until > now {
            self.audit
                .record(context, "sign-in-locked", named, None)
                .await;
            let retry = ((locked_until - now) as u64).div_ceil(1000);
            return Err(ServiceError::new(
                ErrorKind::Limited,
                "too-many-failed-sign-ins",
                format!("too many failed sign-ins for this username; retry in {retry} s"),
            )
            .with_retry_after(retry));
        }
        let user = self.store.user_by_username(&username).await?;
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        let matches = blocking(move || verify_password(&password, hash.as_deref())).await?;
        let user = match user {
            Some(user) if matches && !user.disabled => user,
            other => {
                self.refuse_sign_in(context, &username, other.as_ref(), now)
                    .await?;
                return Err(invalid_credentials());
            }
        };
        self.store.clear_login_failures(&username).await?;
        let refresh = new_refresh_token();
        self.store
            .insert_refresh_token(&NewRefreshToken {
                hash: api_key_hash(&refresh),
                family: Uuid::new_v4().to_string(),
                user_id: user.id.clone(),
                created_at: now,
                expires_at: now + self.settings().refresh_ttl_secs * 1000,
            })
            .await?;
        let actor = Actor {
            principal: Some(&user.id),
            username: Some(&username),
        };
        self.audit
            .record(context, "sign-in-succeeded", actor, None)
            .await;
        self.session(&user, refresh)
    }

    /// Counts a failed sign-in towards the lockout and records it.
    async fn refuse_sign_in(
        &self,
        context: &RequestContext,
        username: &str,
        user: Option<&User>,
        now: i64,
    ) -> Result<(), ServiceError> {
        let failure = self
            .store
            .record_login_failure(username, now, self.settings().lockout)
            .await?;
        let actor = Actor {
            principal: user.map(|u| u.id.as_str()),
            username: Some(username),
        };
        let detail = user
            .filter(|u| u.disabled)
            .map(|_| "account disabled".to_owned());
        self.audit
            .record(context, "sign-in-failed", actor, detail)
            .await;
        if failure.locked_until > now {
            let detail = format!("locked for {} ms", failure.locked_until - now);
            self.audit
                .record(context, "account-locked", actor, Some(detail))
                .await;
        }
        Ok(())
    }

    /// Issues ID and access tokens for `user`, with the sign-in's refresh token.
    fn session(&self, user: &User, refresh_token: String) -> Result<Session, ServiceError> {
        let tokens = self
            .tokens
            .issue(user, now_millis() / 1000)
            .map_err(ServiceError::internal)?;
        Ok(Session {
            id_token: tokens.id_token,
            access_token: tokens.access_token,
            refresh_token,
            expires_in: tokens.expires_in,
        })
    }

    /// New tokens for a refresh token; the old one is used up (presenting it again
    /// revokes the whole sign-in).
    pub async fn refresh(
        &self,
        context: &RequestContext,
        refresh_token: &str,
    ) -> Result<Session, ServiceError> {
        let next = new_refresh_token();
        let outcome = self
            .store
            .rotate_refresh_token(
                &api_key_hash(refresh_token),
                &api_key_hash(&next),
                now_millis(),
            )
            .await?;
        let user_id = match outcome {
            RotateOutcome::Rotated { user_id, .. } => user_id,
            RotateOutcome::Reused { user_id, family } => {
                let detail = Some(format!("family {family} revoked"));
                self.audit
                    .record(
                        context,
                        "refresh-token-reused",
                        Actor::principal(&user_id),
                        detail,
                    )
                    .await;
                return Err(invalid_refresh());
            }
            RotateOutcome::Invalid => return Err(invalid_refresh()),
        };
        let user = self
            .store
            .user_by_id(&user_id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or_else(invalid_refresh)?;
        let actor = Actor {
            principal: Some(&user.id),
            username: Some(&user.username),
        };
        self.audit
            .record(context, "token-refreshed", actor, None)
            .await;
        self.session(&user, next)
    }

    /// Revokes the sign-in a refresh token belongs to. Idempotent: unknown tokens are
    /// not an error.
    pub async fn sign_out(
        &self,
        context: &RequestContext,
        refresh_token: &str,
    ) -> Result<(), ServiceError> {
        let revoked = self
            .store
            .revoke_refresh_family(&api_key_hash(refresh_token), now_millis())
            .await?;
        if let Some(user_id) = revoked {
            self.audit
                .record(context, "signed-out", Actor::principal(&user_id), None)
                .await;
        }
        Ok(())
    }

    /// Changes `caller`'s password and signs them out everywhere.
    pub async fn change_password(
        &self,
        context: &RequestContext,
        caller: &Principal,
        current: String,
        new: String,
    ) -> Result<(), ServiceError> {
        let not_local = || {
            ServiceError::invalid(
                "no-local-password",
                "this principal has no Easel password (an external or no-auth identity)",
            )
        };
        let user = self
            .store
            .user_by_id(&caller.id)
            .await?
            .ok_or_else(not_local)?;
        self.check_password_policy(&new)?;
        let hash = user.password_hash.clone();
        if !blocking(move || verify_password(&current, Some(&hash))).await? {
            self.audit
                .record(
                    context,
                    "password-change-failed",
                    Actor::principal(&user.id),
                    None,
                )
                .await;
            return Err(ServiceError::forbidden(
                "the current password is not correct",
            ));
        }
        let hash = blocking(move || hash_password(&new))
            .await?
            .map_err(ServiceError::internal)?;
        let now = now_millis();
        self.store.set_password_hash(&user.id, &hash, now).await?;
        self.store.revoke_user_refresh_tokens(&user.id, now).await?;
        let actor = Actor {
            principal: Some(&user.id),
            username: Some(&user.username),
        };
        self.audit
            .record(context, "password-changed", actor, None)
            .await;
        Ok(())
    }
}
