//! Credential resolution: what a request presented (bearer tokens of Easel or a trusted
//! issuer, API keys, SigV4 access keys) → an [`Authenticated`] principal. One rule for
//! every transport: each credential presented must be valid, and all must name the same
//! principal; an invalid one is refused even when another is valid. Every refusal of a
//! presented credential is audited as `authentication-failed`.

use easel_core::{Principal, now_millis};
use easel_store::ExternalPrincipal;
use sha2::{Digest, Sha256};

use super::access_keys::{ACCESS_KEY_PREFIX, derive_secret};
use super::{ADMIN_GROUP, AuthMode, Authenticated, Identity, Issuer, TokenUse, Via};
use crate::audit::{Actor, RequestContext};
use crate::error::{ErrorKind, ServiceError};

/// Every API key starts with this, so a bearer credential can be told from a JWT.
pub const API_KEY_PREFIX: &str = "ek_";

/// Hex SHA-256 of a key's or refresh token's full text: what the store keeps.
pub fn api_key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A credential a request presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An API key (`x-api-key`, or a bearer credential starting with `ek_`).
    ApiKey(String),
    /// A bearer access token.
    Bearer(String),
    /// Something in a credential header that is not a credential at all (an unreadable
    /// header value); always refused.
    Malformed,
}

impl Credential {
    /// A bearer credential: an API key when it has the API-key prefix, else a token.
    pub fn bearer(text: &str) -> Credential {
        let text = text.trim();
        if text.starts_with(API_KEY_PREFIX) {
            Credential::ApiKey(text.to_owned())
        } else {
            Credential::Bearer(text.to_owned())
        }
    }
}

/// An access key's owner and secret: the transport checks the request's signature with
/// the secret, then the owner is the caller.
#[derive(Debug, Clone)]
pub struct AccessKeyHolder {
    /// The key's owner, as authenticated.
    pub authenticated: Authenticated,
    /// The secret access key to check the signature with.
    pub secret: String,
}

fn unauthenticated() -> ServiceError {
    ServiceError::new(
        ErrorKind::Unauthenticated,
        "unauthenticated",
        "sign in and send `Authorization: Bearer <access token>`, or send an API key",
    )
}

fn invalid_token() -> ServiceError {
    ServiceError::new(
        ErrorKind::Unauthenticated,
        "invalid-token",
        "the access token or API key is not valid (expired, revoked, malformed or not an access token)",
    )
}

impl Identity {
    /// Resolves the credentials a request presented. None: `unauthenticated`. Any one
    /// invalid, or two naming different principals: `invalid-token` (audited).
    pub async fn authenticate(
        &self,
        context: &RequestContext,
        presented: &[Credential],
    ) -> Result<Authenticated, ServiceError> {
        if self.settings().mode == AuthMode::None {
            return Ok(Authenticated {
                principal: Principal::local(),
                username: Some("local".to_owned()),
                plan: None,
                via: Via::NoAuth,
            });
        }
        let (first, rest) = presented.split_first().ok_or_else(unauthenticated)?;
        let found = match self.resolve(first).await {
            Ok(found) => found,
            Err(error) => return Err(self.refused(context, error, None).await),
        };
        self.confirm_presented(context, &found, rest).await?;
        Ok(found)
    }

    /// Checks that every credential in `also` is valid and names the principal of
    /// `found` (the one rule, also for a SigV4 request that sends an API key besides);
    /// `invalid-token` (audited) otherwise.
    pub async fn confirm_presented(
        &self,
        context: &RequestContext,
        found: &Authenticated,
        also: &[Credential],
    ) -> Result<(), ServiceError> {
        for credential in also {
            let resolved = match self.resolve(credential).await {
                Ok(resolved) => resolved,
                Err(error) => return Err(self.refused(context, error, None).await),
            };
            if resolved.principal.id != found.principal.id {
                let detail = Some("credentials of different principals".to_owned());
                return Err(self.refused(context, invalid_token(), detail).await);
            }
        }
        Ok(())
    }

    /// Audits a refused credential; store outages are passed on as they are.
    async fn refused(
        &self,
        context: &RequestContext,
        error: ServiceError,
        detail: Option<String>,
    ) -> ServiceError {
        if error.kind() == ErrorKind::Unauthenticated {
            self.audit
                .record(context, "authentication-failed", Actor::default(), detail)
                .await;
        }
        error
    }

    async fn resolve(&self, credential: &Credential) -> Result<Authenticated, ServiceError> {
        match credential {
            Credential::ApiKey(key) => self.resolve_api_key(key).await,
            Credential::Bearer(token) => self.resolve_token(token).await,
            Credential::Malformed => Err(invalid_token()),
        }
    }

    async fn resolve_api_key(&self, key: &str) -> Result<Authenticated, ServiceError> {
        let found = self
            .store
            .live_api_key_by_hash(&api_key_hash(key))
            .await?
            .ok_or_else(invalid_token)?;
        self.local_user(&found.owner, Via::ApiKey).await
    }

    /// The enabled local account `id`, read on every request: a disabled user or a
    /// changed role takes effect at once, and the plan is current.
    async fn local_user(&self, id: &str, via: Via) -> Result<Authenticated, ServiceError> {
        let user = self
            .store
            .user_by_id(id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or_else(invalid_token)?;
        Ok(Authenticated {
            principal: Principal {
                id: user.id,
                admin: user.admin,
            },
            username: Some(user.username),
            plan: user.plan,
            via,
        })
    }

    async fn resolve_token(&self, token: &str) -> Result<Authenticated, ServiceError> {
        let (claims, issuer) =
            self.tokens
                .verify(token, TokenUse::Access)
                .await
                .map_err(|error| {
                    tracing::info!(%error, "token refused");
                    invalid_token()
                })?;
        match issuer {
            Issuer::Local => self.local_user(&claims.sub, Via::Token).await,
            Issuer::External(index) => {
                let admin_group = self
                    .tokens
                    .external(index)
                    .map_or(ADMIN_GROUP, |v| v.settings.admin_group.as_str());
                let username = claims.username.clone().or(claims.cognito_username.clone());
                let record = self
                    .external_record(&claims.sub, &claims.iss, username.as_deref())
                    .await?;
                Ok(Authenticated {
                    principal: Principal {
                        id: claims.sub.clone(),
                        admin: claims.in_group(admin_group),
                    },
                    username,
                    plan: record.plan,
                    via: Via::External,
                })
            }
        }
    }

    /// The record of an external principal (who has no local account), written on
    /// first sight so an administrator can assign it a plan. Later requests only read
    /// it, unless the issuer or the username changed: no write per request.
    async fn external_record(
        &self,
        id: &str,
        issuer: &str,
        username: Option<&str>,
    ) -> Result<ExternalPrincipal, ServiceError> {
        if let Some(known) = self.store.external_principal(id).await?
            && known.issuer == issuer
            && known.username.as_deref() == username
        {
            return Ok(known);
        }
        let now = now_millis();
        let seen = ExternalPrincipal {
            id: id.to_owned(),
            issuer: issuer.to_owned(),
            username: username.map(str::to_owned),
            plan: None,
            created_at: now,
            updated_at: now,
        };
        Ok(self.store.record_external_principal(&seen).await?)
    }

    /// The owner and secret of the live access key `access_key_id`, for a transport
    /// that checks a SigV4 signature. An unknown, revoked or disabled key is
    /// `invalid-token` (audited).
    pub async fn access_key(
        &self,
        context: &RequestContext,
        access_key_id: &str,
    ) -> Result<AccessKeyHolder, ServiceError> {
        let key = self
            .store
            .api_key_by_id(access_key_id)
            .await?
            .filter(|k| k.revoked_at.is_none() && k.id.starts_with(ACCESS_KEY_PREFIX));
        let Some(key) = key else {
            return Err(self.refused(context, invalid_token(), None).await);
        };
        let authenticated = match self.local_user(&key.owner, Via::AccessKey).await {
            Ok(found) => found,
            Err(error) => return Err(self.refused(context, error, None).await),
        };
        Ok(AccessKeyHolder {
            authenticated,
            secret: derive_secret(self.tokens.access_key_secret(), &key.id),
        })
    }

    /// Records a SigV4 signature that did not verify.
    pub async fn signature_refused(&self, context: &RequestContext, access_key_id: &str) {
        let detail = Some(format!("bad signature by {access_key_id}"));
        self.audit
            .record(context, "authentication-failed", Actor::default(), detail)
            .await;
    }
}
