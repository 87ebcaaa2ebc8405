//! The [`Caller`] extractor: credentials → principal → rate limit.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use easel_core::{Principal, now_millis};
use easel_store::ExternalPrincipal;
use sha2::{Digest, Sha256};

use crate::auth::{AuthMode, Issuer, RequestMeta, TokenUse, audit, limits};
use crate::{ApiError, AppState};

/// Every API key starts with this, so a Bearer credential can be told from a JWT.
pub const API_KEY_PREFIX: &str = "ek_";

/// The principal making the request.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// An access token Easel issued.
    Token,
    /// An access token of an external issuer.
    External,
    /// An API key.
    ApiKey,
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
            Via::NoAuth => "none",
        }
    }
}

/// The authenticated caller with what the gateway knows about them.
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

/// Hex SHA-256 of an API key's full text: what the store keeps.
pub fn api_key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn unauthenticated(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message).with_www_authenticate()
}

fn invalid_token() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid-token",
        "the access token or API key is not valid (expired, revoked, malformed or not an access token)",
    )
    .with_www_authenticate()
}

/// The credential of a request: an API key or a bearer token.
enum Credential<'a> {
    ApiKey(&'a str),
    Bearer(&'a str),
}

fn credential(headers: &HeaderMap) -> Result<Option<Credential<'_>>, ApiError> {
    if let Some(value) = headers.get("x-api-key") {
        let key = value.to_str().map_err(|_| invalid_token())?.trim();
        return Ok(Some(Credential::ApiKey(key)));
    }
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| invalid_token())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(invalid_token)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(unauthenticated(
            "use `Authorization: Bearer <token>` or `x-api-key`",
        ));
    }
    let token = token.trim();
    Ok(Some(if token.starts_with(API_KEY_PREFIX) {
        Credential::ApiKey(token)
    } else {
        Credential::Bearer(token)
    }))
}

impl Authenticated {
    /// Resolves the request's credentials; no rate limit applied.
    pub async fn resolve(parts: &Parts, state: &AppState) -> Result<Authenticated, ApiError> {
        if state.auth.settings.mode == AuthMode::None {
            return Ok(Authenticated {
                principal: Principal::local(),
                username: Some("local".to_owned()),
                plan: None,
                via: Via::NoAuth,
            });
        }
        match credential(&parts.headers)? {
            None => Err(unauthenticated(
                "sign in and send `Authorization: Bearer <access token>`, or send an API key",
            )),
            Some(Credential::ApiKey(key)) => from_api_key(state, key).await,
            Some(Credential::Bearer(token)) => from_token(state, token).await,
        }
    }
}

async fn from_api_key(state: &AppState, key: &str) -> Result<Authenticated, ApiError> {
    let found = state
        .identity
        .live_api_key_by_hash(&api_key_hash(key))
        .await?
        .ok_or_else(invalid_token)?;
    local_user(state, &found.owner, Via::ApiKey).await
}

/// The enabled local account `id`, read on every request: a disabled user or a changed
/// role takes effect at once, and the plan is current.
async fn local_user(state: &AppState, id: &str, via: Via) -> Result<Authenticated, ApiError> {
    let user = state
        .identity
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

async fn from_token(state: &AppState, token: &str) -> Result<Authenticated, ApiError> {
    let (claims, issuer) = state
        .auth
        .verify(token, TokenUse::Access)
        .await
        .map_err(|error| {
            tracing::info!(%error, "token refused");
            invalid_token()
        })?;
    match issuer {
        Issuer::Local => local_user(state, &claims.sub, Via::Token).await,
        Issuer::External(index) => {
            let admin_group = state
                .auth
                .external(index)
                .map(|v| v.settings.admin_group.as_str())
                .unwrap_or(crate::auth::ADMIN_GROUP);
            let username = claims.username.clone().or(claims.cognito_username.clone());
            let record =
                external_record(state, &claims.sub, &claims.iss, username.as_deref()).await?;
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

/// The record of an external principal (who has no local account), written on first
/// sight so an administrator can assign it a plan. Later requests only read it, unless
/// the issuer or the username changed: no write per request.
async fn external_record(
    state: &AppState,
    id: &str,
    issuer: &str,
    username: Option<&str>,
) -> Result<ExternalPrincipal, ApiError> {
    if let Some(known) = state.identity.external_principal(id).await?
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
    Ok(state.identity.record_external_principal(&seen).await?)
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let authenticated = match Authenticated::resolve(parts, state).await {
            Ok(found) => found,
            Err(error) => {
                if error.code() == "invalid-token" {
                    let meta = RequestMeta::from_parts(parts);
                    audit(state, &meta, "authentication-failed", None, None, None).await;
                }
                return Err(error);
            }
        };
        limits::take_rate_token(parts, state, &authenticated).await?;
        Ok(authenticated)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let authenticated = Authenticated::from_request_parts(parts, state).await?;
        Ok(Caller(authenticated.principal))
    }
}
