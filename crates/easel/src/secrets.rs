//! The deployment's keys and secrets at startup: read from the metadata database (every
//! process shares them), sealed there with `secrets.key` when one is configured. A data
//! directory from before keys moved to the database has them in files; on first start
//! their values become the database's, so issued tokens, presigned URLs and access keys
//! keep working.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use easel_core::now_millis;
use easel_services::identity::{KeyRing, Tokens};
use easel_services::secrets::{SecretBox, SharedSecrets};
use easel_store::{PresignKey, Secrets};
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// The name of the presign key Easel generates when none is configured.
const PRESIGN_SECRET: &str = "presign/local";
/// The name of the secret SigV4 access-key secrets are derived from.
const ACCESS_KEY_SECRET: &str = "access-keys/derivation";
/// The shared secret each owner's webhook signing secret is derived from.
const WEBHOOK_SECRET: &str = "webhooks/derivation";
/// How often a process reloads the signing keys (rotation elsewhere reaches it then).
const KEY_RELOAD: Duration = Duration::from_secs(20);

/// The sealer `secrets.key` / `secrets.key_file` configure.
pub fn secret_box(config: &Config) -> anyhow::Result<SecretBox> {
    let text = match (&config.secrets.key, &config.secrets.key_file) {
        (Some(key), _) => key.clone(),
        (None, Some(file)) => std::fs::read_to_string(file)
            .with_context(|| format!("cannot read secrets.key_file {}", file.display()))?,
        (None, None) => return Ok(SecretBox::new(None)),
    };
    let bytes = hex::decode(text.trim())
        .context("secrets.key must be 64 hexadecimal characters (32 bytes)")?;
    let Ok(key) = <[u8; 32]>::try_from(bytes) else {
        bail!("secrets.key must be 64 hexadecimal characters (32 bytes)");
    };
    Ok(SecretBox::new(Some(key)))
}

/// The deployment's shared secrets in `store`.
pub fn shared(config: &Config, store: Arc<dyn Secrets>) -> anyhow::Result<SharedSecrets> {
    Ok(SharedSecrets::new(store, secret_box(config)?))
}

/// A hex secret from a file of an older data directory, if there is one.
fn legacy(config: &Config, file: &str) -> anyhow::Result<Option<Vec<u8>>> {
    let path = config.storage.data_dir.join(file);
    read_hex(&path)
}

fn read_hex(path: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(hex::decode(text.trim()).with_context(|| {
            format!("{} does not hold a hex key", path.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn random_32() -> Vec<u8> {
    let mut secret = vec![0u8; 32];
    rand::fill(&mut secret[..]);
    secret
}

/// The token signing keys: the database's, or (first start) the data directory's old
/// key or a new one.
pub async fn signing_keys(config: &Config, secrets: &SharedSecrets) -> anyhow::Result<KeyRing> {
    let initial = legacy(config, "jwt-ed25519.key")?.unwrap_or_else(random_32);
    let Ok(initial) = <[u8; 32]>::try_from(initial) else {
        bail!("jwt-ed25519.key in the data directory must hold exactly 32 bytes");
    };
    let keys = secrets
        .signing_keys(&initial, config.auth.token_ttl_secs, now_millis())
        .await
        .context("cannot load the token signing keys")?;
    Ok(KeyRing::new(keys))
}

/// The configured presign keys, or the deployment's generated one.
pub async fn presign_keys(
    config: &Config,
    secrets: &SharedSecrets,
) -> anyhow::Result<Vec<PresignKey>> {
    if config.presign.keys.is_empty() {
        let initial = legacy(config, "presign.key")?.unwrap_or_else(random_32);
        let secret = secrets
            .get_or_create(PRESIGN_SECRET, &initial, now_millis())
            .await
            .context("cannot load the presign key")?;
        return Ok(vec![PresignKey {
            id: "local".to_owned(),
            secret,
        }]);
    }
    config
        .presign
        .keys
        .iter()
        .map(|key| {
            let secret = match (&key.secret, &key.secret_file) {
                (Some(secret), _) => secret.clone(),
                (None, Some(file)) => std::fs::read_to_string(file)
                    .with_context(|| format!("cannot read presign key file {}", file.display()))?
                    .trim()
                    .to_owned(),
                (None, None) => bail!("presign key `{}` has no secret", key.id),
            };
            if secret.len() < 32 {
                bail!("presign key `{}` is shorter than 32 characters", key.id);
            }
            Ok(PresignKey {
                id: key.id.clone(),
                secret: secret.into_bytes(),
            })
        })
        .collect()
}

/// The secret SigV4 access-key secrets are derived from.
pub async fn access_key_secret(
    config: &Config,
    secrets: &SharedSecrets,
) -> anyhow::Result<Vec<u8>> {
    let initial = legacy(config, "access-keys.key")?.unwrap_or_else(random_32);
    secrets
        .get_or_create(ACCESS_KEY_SECRET, &initial, now_millis())
        .await
        .context("cannot load the access-key secret")
}

/// The secret webhook signing secrets are derived from (the deployment's, made by the
/// first process that needs it).
pub async fn webhook_key(secrets: &SharedSecrets) -> anyhow::Result<Vec<u8>> {
    secrets
        .get_or_create(WEBHOOK_SECRET, &random_32(), now_millis())
        .await
        .context("cannot load the webhook key")
}

/// Reloads the signing keys every [`KEY_RELOAD`] until `shutdown`, so a rotation made
/// by `easel keys rotate` or another process reaches this one.
pub async fn reload_signing_keys(
    secrets: SharedSecrets,
    tokens: Arc<Tokens>,
    ttl_secs: i64,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(KEY_RELOAD) => {}
            () = shutdown.cancelled() => return,
        }
        // The keys exist (startup made them): the candidate is never stored unless
        // someone deleted every key, and then a fresh random one is right.
        let Ok(candidate) = <[u8; 32]>::try_from(random_32()) else {
            continue;
        };
        match secrets
            .signing_keys(&candidate, ttl_secs, now_millis())
            .await
        {
            Ok(keys) => tokens.keys().replace(keys),
            Err(error) => {
                tracing::warn!(%error, "could not reload the signing keys; keeping the ones loaded")
            }
        }
    }
}
