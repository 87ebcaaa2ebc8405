//! API keys: created per user (the full key is shown once), listed, revoked. Stored as a
//! SHA-256 hash with a visible prefix; accepted as `x-api-key` or `Authorization: Bearer`.
//! Access keys (`"type": "access-key"`) are AWS-style pairs for SigV4 clients of the
//! Bedrock-compatible endpoint; their secrets are derived, never stored.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use easel_core::{now_millis, rfc3339};
use easel_store::ApiKey;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Caller, RequestMeta, api_key_hash, audit, sigv4};
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
    /// 1 to 100 printable characters.
    #[schema(example = "ci")]
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
#[allow(dead_code)] // the wire form; the code compares strings
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

fn key_type(key: &ApiKey) -> &'static str {
    if key.id.starts_with(sigv4::ACCESS_KEY_PREFIX) {
        "access-key"
    } else {
        "api-key"
    }
}

fn describe(key: &ApiKey) -> KeyView {
    KeyView {
        id: key.id.clone(),
        kind: key_type(key),
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
    let name = body.name.trim();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid-key-name",
            "a key name is 1 to 100 printable characters",
        ));
    }
    let access_key = match body.kind.as_deref() {
        None | Some("api-key") => false,
        Some("access-key") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid-key-type",
                format!("type `{other}` is not `api-key` or `access-key`"),
            ));
        }
    };
    let (id, prefix, full) = if access_key {
        // The secret is derived, not stored; the hash column holds a value that no
        // bearer key can ever match.
        let id = sigv4::new_access_key_id();
        let secret = sigv4::derive_secret(state.auth.access_key_secret(), &id);
        (id.clone(), id.clone(), format!("sigv4:{id}:{secret}"))
    } else {
        let mut id = [0u8; 8];
        rand::fill(&mut id);
        let mut secret = [0u8; 24];
        rand::fill(&mut secret);
        let id = hex::encode(id);
        let prefix = format!("ek_{id}");
        let full = format!("{prefix}_{}", hex::encode(secret));
        (id, prefix, full)
    };
    let key = ApiKey {
        id,
        owner: caller.id.clone(),
        name: name.to_owned(),
        prefix,
        created_at: now_millis(),
        revoked_at: None,
    };
    state
        .identity
        .create_api_key(&key, &api_key_hash(&full))
        .await?;
    audit(
        &state,
        &meta,
        "key-created",
        Some(&caller.id),
        None,
        Some(key.prefix.clone()),
    )
    .await;
    let mut body = CreatedKey {
        key: describe(&key),
        secret: None,
        access_key_id: None,
        secret_access_key: None,
    };
    if access_key {
        body.access_key_id = Some(key.id.clone());
        body.secret_access_key = Some(sigv4::derive_secret(
            state.auth.access_key_secret(),
            &key.id,
        ));
    } else {
        body.secret = Some(full);
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
    let keys = state.identity.list_api_keys(&caller.id).await?;
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
    let not_found = || ApiError::not_found("key-not-found", format!("no API key `{id}`"));
    let key = state.identity.api_key_by_id(&id).await?;
    let key = match key {
        Some(key) if caller.can_access(&key.owner) => key,
        Some(_) => {
            audit(
                &state,
                &meta,
                "permission-denied",
                Some(&caller.id),
                None,
                Some(format!("revoke key {id}")),
            )
            .await;
            return Err(not_found());
        }
        None => return Err(not_found()),
    };
    if !state.identity.revoke_api_key(&key.id, now_millis()).await? {
        return Err(not_found());
    }
    audit(
        &state,
        &meta,
        "key-revoked",
        Some(&caller.id),
        None,
        Some(key.prefix),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
