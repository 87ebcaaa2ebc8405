//! `/.well-known/jwks.json` and `/.well-known/openid-configuration`: what a resource
//! server needs to verify Easel's tokens itself.

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};

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

async fn jwks(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let key = state.auth.signing_key().ok_or_else(no_keys)?;
    Ok(Json(json!({ "keys": [key.jwk()] })))
}

async fn openid_configuration(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.auth.signing_key().ok_or_else(no_keys)?;
    let issuer = state.auth.settings.issuer.trim_end_matches('/');
    Ok(Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "token_endpoint": format!("{issuer}/v1/auth/sign-in"),
        "userinfo_endpoint": format!("{issuer}/v1/me"),
        "response_types_supported": ["token"],
        "grant_types_supported": ["password", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "token_endpoint_auth_methods_supported": ["none"],
        "scopes_supported": ["easel/api"],
        "claims_supported": [
            "sub", "iss", "aud", "client_id", "token_use", "scope", "exp", "iat", "jti",
            "username", "email", "groups"
        ],
    })))
}
