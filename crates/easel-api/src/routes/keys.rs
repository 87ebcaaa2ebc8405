//! `/v1/keys`: API keys and SigV4 access keys (the identity service's), created per user
//! (the secret is shown once), listed and revoked.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use easel_core::rfc3339;
use easel_services::identity::{KeyKind, KeySecret};
use easel_store::ApiKey;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Caller, RequestMeta};
use crate::error::ErrorBody;
use crate::extract::JsonBody;
use crate::routes::{Access, Routes};
use crate::{ApiError, AppState};

pub fn routes() -> Routes {
    Routes::new()
        .add(
            "/v1/keys",
            Access::Authenticated,
            &["GET", "POST"],
            get(list_keys).post(create_key),
        )
        .add(
            "/v1/keys/{id}",
            Access::Owned,
            &["DELETE"],
            delete(revoke_key),
        )
}

/// A key to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateKey {
    /// 1 to 100 characters: no control characters, not only whitespace (kept trimmed).
    #[schema(
        example = "ci",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: String,
    /// `api-key` (default) or `access-key` (an AWS-style key pair for SigV4 clients of
    /// the Bedrock-compatible endpoint).
    #[serde(rename = "type")]
    #[schema(value_type = Option<KeyType>)]
    kind: Option<String>,
}

/// The two kinds of key.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code)] // the wire form; `KeyKind` is the value
enum KeyType {
    /// Sent as `x-api-key` or `Authorization: Bearer`.
    ApiKey,
    /// An AWS-style pair for SigV4 (the Bedrock-compatible endpoint).
    AccessKey,
}

/// A key as listed (never the secret).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ApiKey)]
struct KeyView {
    /// What `DELETE /v1/keys/{id}` takes.
    id: String,
    #[serde(rename = "type")]
    #[schema(value_type = KeyType)]
    kind: &'static str,
    name: String,
    /// The visible start of the key (`ek_…` or the access key id).
    prefix: String,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339, when revoked.
    revoked_at: Option<String>,
}

/// A new key with its secret, shown only now.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct CreatedKey {
    #[serde(flatten)]
    key: KeyView,
    /// `api-key`: the full key.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    #[serde(rename = "key")]
    secret: Option<String>,
    /// `access-key`: the access key id.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    access_key_id: Option<String>,
    /// `access-key`: the secret access key.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    secret_access_key: Option<String>,
}

/// The caller's keys.
#[derive(Debug, Serialize, ToSchema)]
struct KeyList {
    /// Oldest first, revoked ones included.
    keys: Vec<KeyView>,
}

fn describe(key: &ApiKey) -> KeyView {
    KeyView {
        id: key.id.clone(),
        kind: KeyKind::of(key).as_str(),
        name: key.name.clone(),
        prefix: key.prefix.clone(),
        created_at: rfc3339(key.created_at),
        revoked_at: key.revoked_at.map(rfc3339),
    }
}

/// Creates an API key or a SigV4 access key; its secret is in this answer only.
#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body = CreateKey,
    responses(
        (status = 201, description = "Created", body = CreatedKey),
        (status = 400, description = "`invalid-key-name` or `invalid-key-type`", body = ErrorBody),
    ))]
async fn create_key(
    State(state): State<AppState>,
    Caller(caller): Caller,
    meta: RequestMeta,
    JsonBody(body): JsonBody<CreateKey>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let kind = match body.kind.as_deref() {
        None => KeyKind::ApiKey,
        Some(text) => text.parse()?,
    };
    let identity = &state.services.identity;
    let created = identity
        .create_key(&meta.0, &caller, &body.name, kind)
        .await?;
    let mut body = CreatedKey {
        key: describe(&created.key),
        secret: None,
        access_key_id: None,
        secret_access_key: None,
    };
    match created.secret {
        KeySecret::ApiKey(full) => body.secret = Some(full),
        KeySecret::AccessKey { id, secret } => {
            body.access_key_id = Some(id);
            body.secret_access_key = Some(secret);
        }
    }
    Ok((StatusCode::CREATED, Json(body)))
}

/// The caller's keys, without secrets.
#[utoipa::path(get, path = "/v1/keys", tag = "keys",
    responses((status = 200, description = "The keys", body = KeyList)))]
async fn list_keys(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<KeyList>, ApiError> {
    let keys = state.services.identity.list_keys(&caller).await?;
    Ok(Json(KeyList {
        keys: keys.iter().map(describe).collect(),
    }))
}

/// Revokes a key at once.
#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "The key's `id`")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "`key-not-found` (also: another user's, or already revoked)", body = ErrorBody),
    ))]
async fn revoke_key(
    State(state): State<AppState>,
    Caller(caller): Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let identity = &state.services.identity;
    identity.revoke_key(&meta.0, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
