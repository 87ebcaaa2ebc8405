//! `/.well-known/jwks.json` and `/.well-known/openid-configuration`: what a resource
//! server needs to verify Easel's tokens itself.

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use jsonwebtoken::jwk::Jwk;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ErrorBody;
use crate::routes::{Access, Routes};
use crate::{ApiError, AppState};

pub fn routes() -> Routes {
    Routes::new()
        .add(
            "/.well-known/jwks.json",
            Access::Public,
            &["GET", "HEAD"],
            get(jwks),
        )
        .add(
            "/.well-known/openid-configuration",
            Access::Public,
            &["GET", "HEAD"],
            get(openid_configuration),
        )
}

fn no_keys() -> ApiError {
    ApiError::not_found(
        "no-signing-keys",
        "authentication is off: Easel issues no tokens",
    )
}

/// A JSON Web Key Set (RFC 7517).
#[derive(Debug, Serialize, ToSchema)]
struct Jwks {
    /// Easel's token signing keys (Ed25519 `OKP` keys, `alg` `EdDSA`): during a
    /// rotation the old and the new one, until the old one's tokens have expired.
    #[schema(value_type = Vec<Object>)]
    keys: Vec<Jwk>,
}

/// The public keys that sign Easel's tokens.
#[utoipa::path(method(get, head), path = "/.well-known/jwks.json", tag = "discovery",
    responses(
        (status = 200, description = "The key set", body = Jwks),
        (status = 404, description = "`no-signing-keys`: authentication is off", body = ErrorBody),
    ))]
async fn jwks(State(state): State<AppState>) -> Result<Json<Jwks>, ApiError> {
    let keys = state.services.identity.tokens().keys().jwks();
    if keys.is_empty() {
        return Err(no_keys());
    }
    Ok(Json(Jwks { keys }))
}

/// OpenID Connect discovery metadata (the parts that apply to Easel).
#[derive(Debug, Serialize, ToSchema)]
struct OpenIdConfiguration {
    issuer: String,
    jwks_uri: String,
    token_endpoint: String,
    userinfo_endpoint: String,
    response_types_supported: Vec<&'static str>,
    grant_types_supported: Vec<&'static str>,
    subject_types_supported: Vec<&'static str>,
    id_token_signing_alg_values_supported: Vec<&'static str>,
    token_endpoint_auth_methods_supported: Vec<&'static str>,
    scopes_supported: Vec<&'static str>,
    claims_supported: Vec<&'static str>,
}

/// OpenID Connect discovery: the issuer, its JWKS and endpoints.
#[utoipa::path(method(get, head), path = "/.well-known/openid-configuration", tag = "discovery",
    responses(
        (status = 200, description = "The metadata", body = OpenIdConfiguration),
        (status = 404, description = "`no-signing-keys`: authentication is off", body = ErrorBody),
    ))]
async fn openid_configuration(
    State(state): State<AppState>,
) -> Result<Json<OpenIdConfiguration>, ApiError> {
    if state.services.identity.tokens().keys().is_empty() {
        return Err(no_keys());
    }
    let issuer = state
        .services
        .identity
        .settings()
        .issuer
        .trim_end_matches('/');
    Ok(Json(OpenIdConfiguration {
        issuer: issuer.to_owned(),
        jwks_uri: format!("{issuer}/.well-known/jwks.json"),
        token_endpoint: format!("{issuer}/v1/auth/sign-in"),
        userinfo_endpoint: format!("{issuer}/v1/me"),
        response_types_supported: vec!["token"],
        grant_types_supported: vec!["password", "refresh_token"],
        subject_types_supported: vec!["public"],
        id_token_signing_alg_values_supported: vec!["EdDSA"],
        token_endpoint_auth_methods_supported: vec!["none"],
        scopes_supported: vec!["easel/api"],
        claims_supported: vec![
            "sub",
            "iss",
            "aud",
            "client_id",
            "token_use",
            "scope",
            "exp",
            "iat",
            "jti",
            "username",
            "email",
            "groups",
        ],
    }))
}
