//! `easel keys rotate`: adds a new token signing key to the database. Every process
//! loads it within a minute and publishes it in its JWKS at once; tokens are signed with
//! it once it has been published for `PUBLISH_BEFORE_SIGNING_MS`, and the old key stays
//! published until the tokens it signed have expired, then the next rotation deletes it.

use std::process::ExitCode;
use std::sync::Arc;

use easel_core::{now_millis, rfc3339};
use easel_services::identity::PUBLISH_BEFORE_SIGNING_MS;
use easel_store::Wakeups;

use crate::app::open_metadata;
use crate::config::Config;
use crate::telemetry;

/// Rotates the token signing key.
pub fn rotate(config: Config) -> anyhow::Result<ExitCode> {
    telemetry::init(&config.log);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let store = open_metadata(&config, Arc::new(Wakeups::default())).await?;
        let secrets = crate::secrets::shared(&config, store)?;
        // A deployment that never started has no key yet: make its first one, so the
        // rotation leaves old and new.
        crate::secrets::signing_keys(&config, &secrets).await?;
        let now = now_millis();
        let kid = secrets
            .rotate_signing_key(config.auth.token_ttl_secs, now)
            .await?;
        eprintln!(
            "new signing key {kid}: published now, signs from {}; the previous key stays published at least until {}",
            rfc3339(now + PUBLISH_BEFORE_SIGNING_MS),
            rfc3339(now + PUBLISH_BEFORE_SIGNING_MS + config.auth.token_ttl_secs * 1000),
        );
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
