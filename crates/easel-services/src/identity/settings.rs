//! Identity settings, plain values filled from the binary's configuration.

use easel_store::LockoutPolicy;
use serde::{Deserialize, Serialize};

/// Whether requests are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Users, tokens and API keys (the default).
    Local,
    /// No authentication: every request acts as the single local admin. Only allowed
    /// when the server listens on loopback.
    None,
}

/// Password rules, like Cognito's default policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordPolicy {
    /// Shortest password, in characters. Default 8.
    pub min_length: usize,
    /// Needs an uppercase letter. Default true.
    pub require_uppercase: bool,
    /// Needs a lowercase letter. Default true.
    pub require_lowercase: bool,
    /// Needs a digit. Default true.
    pub require_digit: bool,
    /// Needs a symbol (anything but letters, digits and spaces). Default true.
    pub require_symbol: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            min_length: 8,
            require_uppercase: true,
            require_lowercase: true,
            require_digit: true,
            require_symbol: true,
        }
    }
}

/// Whether the address of a new account is verified by an e-mailed code (only with an
/// `[email]` server; without one, off).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailVerification {
    /// A code is sent; until it is entered the account can sign in but not spend quota
    /// (`403 verification-required`). The default.
    #[default]
    Required,
    /// A code is sent; an unverified account may do everything.
    Optional,
    /// No code is sent.
    Off,
}

/// The proof-of-work challenge sign-ups must solve (as ALTCHA's): find the number in
/// `0..=max_number` whose SHA-256 with the challenge's salt is the challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChallengeSettings {
    /// Whether sign-ups need a solution. Default false.
    pub enabled: bool,
    /// The largest secret number: the work a solution takes (half of it, on average, in
    /// SHA-256 hashes). Default 100 000 (a fraction of a second in a browser).
    pub max_number: u64,
    /// How long a challenge may be solved and used, in seconds. Default 600.
    pub ttl_secs: i64,
}

impl Default for ChallengeSettings {
    fn default() -> Self {
        ChallengeSettings {
            enabled: false,
            max_number: 100_000,
            ttl_secs: 600,
        }
    }
}

/// An external OIDC issuer whose access tokens Easel accepts (a Cognito user pool:
/// issuer `https://cognito-idp.<region>.amazonaws.com/<pool id>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalIssuer {
    /// The exact `iss` of its tokens.
    pub issuer: String,
    /// Where its JWKS is published (`<issuer>/.well-known/jwks.json` for Cognito).
    pub jwks_url: String,
    /// The app client id its access tokens carry in `client_id` (or `aud`).
    pub client_id: String,
    /// Members of this group (`cognito:groups` or `groups`) are admins. Default `admin`.
    #[serde(default = "default_admin_group")]
    pub admin_group: String,
}

fn default_admin_group() -> String {
    "admin".to_owned()
}

/// Everything identity needs.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Local or none.
    pub mode: AuthMode,
    /// `iss` of issued tokens.
    pub issuer: String,
    /// The app client id: `client_id` of access tokens, `aud` of ID tokens.
    pub client_id: String,
    /// Lifetime of ID and access tokens, in seconds.
    pub token_ttl_secs: i64,
    /// Lifetime of a sign-in's refresh tokens, in seconds.
    pub refresh_ttl_secs: i64,
    /// Whether anyone may sign up.
    pub allow_sign_up: bool,
    /// Whether new addresses are verified (when e-mail is configured).
    pub email_verification: EmailVerification,
    /// The sign-up proof-of-work challenge.
    pub challenge: ChallengeSettings,
    /// Password rules.
    pub password_policy: PasswordPolicy,
    /// Failed sign-in throttle.
    pub lockout: LockoutPolicy,
    /// External issuers trusted besides Easel itself.
    pub external: Vec<ExternalIssuer>,
}
