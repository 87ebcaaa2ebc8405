//! Identity and gateway settings, plain values filled from the binary's configuration.

use std::collections::BTreeMap;

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

/// An operation class that quotas count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpClass {
    /// Image processing jobs (`POST /v1/jobs`, `POST /process`).
    Process,
    /// Image generation.
    Generate,
    /// Image editing (inpaint, outpaint).
    Edit,
}

impl OpClass {
    /// Every class.
    pub const ALL: [OpClass; 3] = [OpClass::Process, OpClass::Generate, OpClass::Edit];

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            OpClass::Process => "process",
            OpClass::Generate => "generate",
            OpClass::Edit => "edit",
        }
    }
}

/// Requests allowed per calendar window (UTC); an absent window is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaLimits {
    /// Per day (from 00:00 UTC).
    pub day: Option<u64>,
    /// Per week (from Monday 00:00 UTC).
    pub week: Option<u64>,
    /// Per month (from the 1st, 00:00 UTC).
    pub month: Option<u64>,
}

/// A usage plan, like API Gateway's: a token bucket over every authenticated request
/// and quotas per operation class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Sustained requests per second (may be fractional: 0.0028 is about 10 per hour).
    pub rate_per_sec: f64,
    /// Requests allowed at once before the rate applies.
    pub burst: u32,
    /// Quotas by operation class.
    #[serde(default)]
    pub quotas: BTreeMap<OpClass, QuotaLimits>,
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

/// Cross-origin resource sharing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsSettings {
    /// Origins allowed (`*` for any, never together with credentials). Empty: no CORS.
    pub allowed_origins: Vec<String>,
    /// Methods allowed.
    pub allowed_methods: Vec<String>,
    /// Request headers allowed.
    pub allowed_headers: Vec<String>,
    /// Response headers exposed to scripts.
    pub expose_headers: Vec<String>,
    /// Whether cookies and `Authorization` may be sent cross-origin.
    pub allow_credentials: bool,
    /// How long a preflight may be cached, in seconds.
    pub max_age_secs: u64,
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
    /// Password rules.
    pub password_policy: PasswordPolicy,
    /// Failed sign-in throttle.
    pub lockout: LockoutPolicy,
    /// External issuers trusted besides Easel itself.
    pub external: Vec<ExternalIssuer>,
    /// Usage plans by name.
    pub plans: BTreeMap<String, Plan>,
    /// The plan of users without one.
    pub default_plan: String,
}

impl AuthSettings {
    /// The plan named `name`, or the default plan.
    pub fn plan(&self, name: Option<&str>) -> (&str, Option<&Plan>) {
        match name.and_then(|n| self.plans.get_key_value(n)) {
            Some((name, plan)) => (name.as_str(), Some(plan)),
            None => (&self.default_plan, self.plans.get(&self.default_plan)),
        }
    }
}
