//! The [`Caller`] and [`Authenticated`] extractors: the credential headers → the
//! identity service → the principal, then the principal's rate limit.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use easel_core::Principal;
use easel_services::identity::{self, Credential};
use easel_services::{ErrorKind, ServiceError};

use crate::auth::{RequestMeta, limits};
use crate::{ApiError, AppState};

/// The principal making the request.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

/// The authenticated caller with what identity knows about them (plan, how they
/// signed in).
#[derive(Debug, Clone)]
pub struct Authenticated(pub identity::Authenticated);

/// The credentials a request presents: `x-api-key`, and `Authorization: Bearer …` (an
/// API key or an access token). Every one present is checked; an `Authorization` header
/// of another scheme is refused outright.
pub fn credentials(headers: &HeaderMap) -> Result<Vec<Credential>, ServiceError> {
    let mut found: Vec<Credential> = api_key_header(headers).into_iter().collect();
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let Some((scheme, token)) = value.to_str().ok().and_then(|v| v.split_once(' ')) else {
            found.push(Credential::Malformed);
            return Ok(found);
        };
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ServiceError::new(
                ErrorKind::Unauthenticated,
                "unauthenticated",
                "use `Authorization: Bearer <token>` or `x-api-key`",
            ));
        }
        found.push(Credential::bearer(token));
    }
    Ok(found)
}

/// The `x-api-key` header, when sent.
pub fn api_key_header(headers: &HeaderMap) -> Option<Credential> {
    let value = headers.get("x-api-key")?;
    Some(match value.to_str() {
        Ok(key) => Credential::ApiKey(key.trim().to_owned()),
        Err(_) => Credential::Malformed,
    })
}

impl Authenticated {
    /// Resolves the request's credentials; no rate limit applied. The error is the
    /// service's, for each dialect to render.
    pub async fn resolve(parts: &Parts, state: &AppState) -> Result<Authenticated, ServiceError> {
        let presented = credentials(&parts.headers)?;
        let RequestMeta(context) = RequestMeta::from_parts(parts);
        let found = state
            .services
            .identity
            .authenticate(&context, &presented)
            .await?;
        Ok(Authenticated(found))
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let authenticated = Authenticated::resolve(parts, state).await?;
        limits::take_rate_token(parts, state, &authenticated.0).await?;
        Ok(authenticated)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Authenticated(authenticated) = Authenticated::from_request_parts(parts, state).await?;
        Ok(Caller(authenticated.principal))
    }
}
