//! Keys: API keys (`ek_…`, sent as `x-api-key` or a bearer token; stored as a SHA-256
//! hash with a visible prefix, shown once) and SigV4 access keys (an id and a derived
//! secret, never stored). Created, listed and revoked by their owner.

use std::str::FromStr;

use easel_core::{Principal, now_millis};
use easel_store::ApiKey;

use super::Identity;
use super::access_keys::{ACCESS_KEY_PREFIX, derive_secret, new_access_key_id};
use super::credentials::{API_KEY_PREFIX, api_key_hash};
use crate::audit::{Actor, RequestContext};
use crate::error::ServiceError;

/// The two kinds of key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Sent as `x-api-key` or `Authorization: Bearer`.
    ApiKey,
    /// An AWS-style pair for SigV4 clients of the Bedrock-compatible endpoint.
    AccessKey,
}

impl KeyKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::ApiKey => "api-key",
            KeyKind::AccessKey => "access-key",
        }
    }

    /// The kind of a stored key.
    pub fn of(key: &ApiKey) -> KeyKind {
        if key.id.starts_with(ACCESS_KEY_PREFIX) {
            KeyKind::AccessKey
        } else {
            KeyKind::ApiKey
        }
    }
}

impl FromStr for KeyKind {
    type Err = ServiceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "api-key" => Ok(KeyKind::ApiKey),
            "access-key" => Ok(KeyKind::AccessKey),
            other => Err(ServiceError::invalid(
                "invalid-key-type",
                format!("type `{other}` is not `api-key` or `access-key`"),
            )),
        }
    }
}

/// A key's secret, shown once at creation.
#[derive(Debug, Clone)]
pub enum KeySecret {
    /// The full API key.
    ApiKey(String),
    /// The access key id and its secret access key.
    AccessKey {
        /// The access key id.
        id: String,
        /// The secret access key.
        secret: String,
    },
}

/// A key just created.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    /// The stored record.
    pub key: ApiKey,
    /// Its secret.
    pub secret: KeySecret,
}

impl Identity {
    /// Creates a key of `kind` named `name` for `caller`.
    pub async fn create_key(
        &self,
        context: &RequestContext,
        caller: &Principal,
        name: &str,
        kind: KeyKind,
    ) -> Result<CreatedKey, ServiceError> {
        // The rule the document states for the name as sent: 1 to 100 characters, none a
        // control character, not all whitespace. The trimmed form is kept.
        let too_long = name.chars().count() > 100;
        let control = name.chars().any(char::is_control);
        let name = name.trim();
        if name.is_empty() || too_long || control {
            return Err(ServiceError::invalid(
                "invalid-key-name",
                "a key name is 1 to 100 printable characters",
            ));
        }
        let (id, prefix, full, secret) = match kind {
            KeyKind::AccessKey => {
                // The secret is derived, not stored; the hash column holds a value that
                // no bearer key can ever match.
                let id = new_access_key_id();
                let secret = derive_secret(self.tokens.access_key_secret(), &id);
                let full = format!("sigv4:{id}:{secret}");
                let shown = KeySecret::AccessKey {
                    id: id.clone(),
                    secret,
                };
                (id.clone(), id, full, shown)
            }
            KeyKind::ApiKey => {
                let mut id = [0u8; 8];
                rand::fill(&mut id);
                let mut secret = [0u8; 24];
                rand::fill(&mut secret);
                let id = hex::encode(id);
                let prefix = format!("{API_KEY_PREFIX}{id}");
                let full = format!("{prefix}_{}", hex::encode(secret));
                (id, prefix, full.clone(), KeySecret::ApiKey(full))
            }
        };
        let key = ApiKey {
            id,
            owner: caller.id.clone(),
            name: name.to_owned(),
            prefix,
            created_at: now_millis(),
            revoked_at: None,
        };
        self.store
            .create_api_key(&key, &api_key_hash(&full))
            .await?;
        self.audit
            .record(
                context,
                "key-created",
                Actor::principal(&caller.id),
                Some(key.prefix.clone()),
            )
            .await;
        Ok(CreatedKey { key, secret })
    }

    /// `caller`'s keys, revoked ones included, oldest first.
    pub async fn list_keys(&self, caller: &Principal) -> Result<Vec<ApiKey>, ServiceError> {
        Ok(self.store.list_api_keys(&caller.id).await?)
    }

    /// Revokes key `id` of `caller` (an administrator: anyone's). Another principal's
    /// key answers like a missing one, and the attempt is recorded.
    pub async fn revoke_key(
        &self,
        context: &RequestContext,
        caller: &Principal,
        id: &str,
    ) -> Result<(), ServiceError> {
        let not_found = || ServiceError::not_found("key-not-found", format!("no API key `{id}`"));
        let key = match self.store.api_key_by_id(id).await? {
            Some(key) if caller.can_access(&key.owner) => key,
            Some(_) => {
                self.audit
                    .record(
                        context,
                        "permission-denied",
                        Actor::principal(&caller.id),
                        Some(format!("revoke key {id}")),
                    )
                    .await;
                return Err(not_found());
            }
            None => return Err(not_found()),
        };
        if !self.store.revoke_api_key(&key.id, now_millis()).await? {
            return Err(not_found());
        }
        self.audit
            .record(
                context,
                "key-revoked",
                Actor::principal(&caller.id),
                Some(key.prefix),
            )
            .await;
        Ok(())
    }
}
