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
    /// When the holder proved the address (`username`) is theirs; `None`: not yet.
    pub email_verified_at: Option<Millis>,
    /// The address the holder asked to change to, until they prove it is theirs.
    pub pending_email: Option<String>,
    /// The e-mails the holder asked for.
    pub notifications: Notifications,
}

/// The e-mails an account holder may ask for; each is off until they opt in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Notifications {
    /// A job or generation of theirs finished (completed or failed for good).
    pub job_finished: bool,
    /// The 24-hour link to one of their generated images is about to expire.
    pub link_expiry: bool,
    /// Each Monday, what they did the week before.
    pub weekly_summary: bool,
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

    /// Records that the holder proved their address at `now`; false when there is no
    /// such account.
    async fn set_email_verified(&self, id: &str, now: Millis) -> Result<bool, StoreError>;

    /// Sets (or with `None` clears) the address the holder asked to change to; false
    /// when there is no such account.
    async fn set_pending_email(
        &self,
        id: &str,
        email: Option<&str>,
        now: Millis,
    ) -> Result<bool, StoreError>;

    /// Makes `username` the account's name and verified address, and clears the pending
    /// one; false when there is no such account, [`StoreError::Conflict`] when another
    /// account has that name.
    async fn change_username(
        &self,
        id: &str,
        username: &str,
        now: Millis,
    ) -> Result<bool, StoreError>;

    /// Replaces the holder's notification choices; false when there is no such account.
    async fn set_notifications(
        &self,
        id: &str,
        notifications: Notifications,
        now: Millis,
    ) -> Result<bool, StoreError>;

    /// Up to `limit` enabled accounts with a verified address that asked for the weekly
    /// summary and have not been sent the one of the week starting `week_start`.
    async fn weekly_summaries_due(
        &self,
        week_start: Millis,
        limit: u32,
    ) -> Result<Vec<User>, StoreError>;

    /// Records that the summary of the week starting `week_start` went to `id`; false
    /// when it already had (another process was first) or there is no such account.
    async fn mark_weekly_summary(&self, id: &str, week_start: Millis) -> Result<bool, StoreError>;
}
