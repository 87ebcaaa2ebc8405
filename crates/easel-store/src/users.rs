//! Accounts and the per-account sign-in throttle (Cognito-style lockout).

use async_trait::async_trait;
use easel_core::Millis;

use crate::StoreError;

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable subject id (a UUID); the `sub` claim and the `owner` of resources.
    pub id: String,
    /// Sign-in name: an email address for self sign-up, any name for admin-created users.
    pub username: String,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// Whether the account has the `admin` role.
    pub admin: bool,
    /// The usage plan assigned to the account (`None`: the default plan).
    pub plan: Option<String>,
    /// Disabled accounts cannot sign in, refresh or use API keys.
    pub disabled: bool,
    /// Creation time.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
}

/// The sign-in throttle's rule: from the `threshold`-th consecutive failure on, an
/// account is locked for `base_ms`, doubling with every further failure up to `max_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures before the first lockout.
    pub threshold: u32,
    /// First lockout, in milliseconds.
    pub base_ms: i64,
    /// Longest lockout, in milliseconds.
    pub max_ms: i64,
}

/// The throttle state after a recorded failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginFailure {
    /// Consecutive failures so far.
    pub failures: u32,
    /// Until when sign-in is refused (0: not locked).
    pub locked_until: Millis,
}

/// Account records.
#[async_trait]
pub trait Users: Send + Sync {
    /// Stores a new account. [`StoreError::Conflict`] when the username is taken.
    async fn create_user(&self, user: &User) -> Result<(), StoreError>;

    /// Looks an account up by id.
    async fn user_by_id(&self, id: &str) -> Result<Option<User>, StoreError>;

    /// Looks an account up by username (exact, already normalized by the caller).
    async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError>;

    /// Every account, oldest first.
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;

    /// Number of accounts.
    async fn count_users(&self) -> Result<u64, StoreError>;

    /// Replaces the password hash; false when there is no such account.
    async fn set_password_hash(
        &self,
        id: &str,
        hash: &str,
        now: Millis,
    ) -> Result<bool, StoreError>;

    /// Enables or disables an account; false when there is no such account.
    async fn set_disabled(&self, id: &str, disabled: bool, now: Millis)
    -> Result<bool, StoreError>;

    /// Assigns a plan (`None`: the default); false when there is no such account.
    async fn set_plan(&self, id: &str, plan: Option<&str>, now: Millis)
    -> Result<bool, StoreError>;

    /// Until when sign-in as `username` is refused (0 when it is not). Keyed by the
    /// name, not the account, so unknown names are throttled exactly like real ones.
    async fn login_locked_until(&self, username: &str) -> Result<Millis, StoreError>;

    /// Counts a failed sign-in and applies `policy`, in one statement.
    async fn record_login_failure(
        &self,
        username: &str,
        now: Millis,
        policy: LockoutPolicy,
    ) -> Result<LoginFailure, StoreError>;

    /// Forgets the failures of `username` (after a success or a password reset).
    async fn clear_login_failures(&self, username: &str) -> Result<(), StoreError>;
}
