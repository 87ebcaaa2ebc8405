//! Account administration shared by `easel serve` (the first-start admin) and
//! `easel user …`: it works on the metadata database directly, like Cognito's admin API.

use anyhow::{Context, bail};
use easel_core::now_millis;
use easel_services::identity::PasswordPolicy;
use easel_services::identity::passwords::{generate_password, hash_password, normalize_username};
use easel_store::{IdentityStore, StoreError, User};
use uuid::Uuid;

/// The name of the account created on first start.
pub const BOOTSTRAP_ADMIN: &str = "admin";

/// On a database without accounts, creates `admin` with a random password, prints the
/// password once on stderr and returns the credentials.
pub async fn bootstrap_admin(
    store: &dyn IdentityStore,
) -> anyhow::Result<Option<(String, String)>> {
    if store.count_users().await? > 0 {
        return Ok(None);
    }
    let password = generate_password();
    match add_user(store, BOOTSTRAP_ADMIN, &password, true, None).await {
        Ok(_) => {}
        // Another process sharing the database created it first.
        Err(error) if is_conflict(&error) => return Ok(None),
        Err(error) => return Err(error),
    }
    eprintln!(
        "easel: created the administrator account `{BOOTSTRAP_ADMIN}` with the password\n\n    {password}\n\nIt is shown only now. Change it with `easel user set-password {BOOTSTRAP_ADMIN}`."
    );
    tracing::warn!(
        username = BOOTSTRAP_ADMIN,
        "created the first administrator account"
    );
    Ok(Some((BOOTSTRAP_ADMIN.to_owned(), password)))
}

fn is_conflict(error: &anyhow::Error) -> bool {
    matches!(
        error.downcast_ref::<StoreError>(),
        Some(StoreError::Conflict)
    )
}

/// Creates an account. The password is not checked against the policy here (callers
/// that take it from a person do that).
pub async fn add_user(
    store: &dyn IdentityStore,
    username: &str,
    password: &str,
    admin: bool,
    plan: Option<&str>,
) -> anyhow::Result<User> {
    let username = normalize_username(username).map_err(|e| anyhow::anyhow!(e))?;
    let password = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await?
        .map_err(|e| anyhow::anyhow!(e))?;
    let now = now_millis();
    let user = User {
        id: Uuid::new_v4().to_string(),
        username,
        password_hash: hash,
        admin,
        plan: plan.map(str::to_owned),
        disabled: false,
        created_at: now,
        updated_at: now,
        // An administrator vouches for the accounts they create.
        email_verified_at: Some(now),
        pending_email: None,
        notifications: Default::default(),
    };
    store.create_user(&user).await?;
    Ok(user)
}

/// Looks an account up by name.
pub async fn find(store: &dyn IdentityStore, username: &str) -> anyhow::Result<User> {
    let name = normalize_username(username).map_err(|e| anyhow::anyhow!(e))?;
    store
        .user_by_username(&name)
        .await?
        .with_context(|| format!("no user `{name}`"))
}

/// Sets a password (checked against `policy`), clears the sign-in throttle and revokes
/// the account's refresh tokens.
pub async fn set_password(
    store: &dyn IdentityStore,
    username: &str,
    password: &str,
    policy: &PasswordPolicy,
) -> anyhow::Result<()> {
    let user = find(store, username).await?;
    if let Err(message) = policy.check(password) {
        bail!("{message}");
    }
    let password = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await?
        .map_err(|e| anyhow::anyhow!(e))?;
    let now = now_millis();
    store.set_password_hash(&user.id, &hash, now).await?;
    store.clear_login_failures(&user.username).await?;
    store.revoke_user_refresh_tokens(&user.id, now).await?;
    Ok(())
}
