//! `[auth]`, `[plans.<name>]` and `[cors]`: identity, usage plans and cross-origin rules.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use anyhow::bail;
use easel_api::CorsSettings;
use easel_services::identity::{
    AuthMode, AuthSettings, ChallengeSettings, EmailVerification, ExternalIssuer, PasswordPolicy,
};
use easel_services::usage::{Plan, Plans};
use easel_store::LockoutPolicy;
use serde::{Deserialize, Serialize};

/// `[auth]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// `local` (users, tokens, API keys) or `none` (one local admin, no credentials;
    /// refused unless `server.bind` is a loopback address). Default `local`.
    pub mode: AuthMode,
    /// `iss` of issued tokens. Default: `server.public_url`, else `http://` + the bound
    /// address. Several processes serving one deployment need the same value.
    pub issuer: Option<String>,
    /// The app client id: `client_id` of access tokens, `aud` of ID tokens. Default `easel`.
    pub client_id: String,
    /// Lifetime of ID and access tokens, in seconds (300 to 86 400). Default 3600.
    pub token_ttl_secs: i64,
    /// Lifetime of a sign-in's refresh tokens, in seconds. Default 2 592 000 (30 days).
    pub refresh_ttl_secs: i64,
    /// Whether anyone may sign up with an email and a password. Default true.
    pub allow_sign_up: bool,
    /// Whether a new account's address is verified by an e-mailed code (needs
    /// `[email]`): `required` (unverified accounts sign in but cannot spend quota),
    /// `optional` or `off`. Default `required`.
    pub email_verification: EmailVerification,
    /// `[auth.challenge]`: the proof-of-work sign-ups must solve. Default off.
    pub challenge: ChallengeSettings,
    /// The plan of users who have none assigned. Default `default`.
    pub default_plan: String,
    /// Password rules (Cognito's default policy).
    pub password_policy: PasswordPolicy,
    /// Failed sign-in throttle.
    pub lockout: LockoutConfig,
    /// External OIDC issuers (e.g. a Cognito user pool) whose access tokens are accepted.
    pub external: Vec<ExternalIssuer>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            mode: AuthMode::Local,
            issuer: None,
            client_id: "easel".to_owned(),
            token_ttl_secs: 3_600,
            refresh_ttl_secs: 30 * 86_400,
            allow_sign_up: true,
            email_verification: EmailVerification::default(),
            challenge: ChallengeSettings::default(),
            default_plan: "default".to_owned(),
            password_policy: PasswordPolicy::default(),
            lockout: LockoutConfig::default(),
            external: Vec::new(),
        }
    }
}

/// `[auth.lockout]`: from the `threshold`-th consecutive failure, sign-in is refused for
/// `base_ms`, doubling with each further failure up to `max_ms`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockoutConfig {
    /// Failures before the first lockout. Default 5.
    pub threshold: u32,
    /// First lockout, in milliseconds. Default 1000.
    pub base_ms: i64,
    /// Longest lockout, in milliseconds. Default 900 000 (15 minutes).
    pub max_ms: i64,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        LockoutConfig {
            threshold: 5,
            base_ms: 1_000,
            max_ms: 900_000,
        }
    }
}

/// `[cors]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins allowed to call the API from a browser, e.g. `https://app.example.com`;
    /// `*` allows any (not with `allow_credentials`). Default none (no CORS headers).
    pub allowed_origins: Vec<String>,
    /// Methods allowed cross-origin.
    pub allowed_methods: Vec<String>,
    /// Request headers allowed cross-origin.
    pub allowed_headers: Vec<String>,
    /// Response headers scripts may read.
    pub expose_headers: Vec<String>,
    /// Whether cookies and credentials may be sent. Default false.
    pub allow_credentials: bool,
    /// How long browsers may cache a preflight, in seconds. Default 600.
    pub max_age_secs: u64,
}

impl Default for CorsConfig {
    fn default() -> Self {
        let strings = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect();
        CorsConfig {
            allowed_origins: Vec::new(),
            allowed_methods: strings(&["GET", "POST", "PUT", "DELETE", "HEAD"]),
            allowed_headers: strings(&[
                "authorization",
                "content-type",
                "x-api-key",
                "idempotency-key",
            ]),
            expose_headers: strings(&[
                "x-request-id",
                "retry-after",
                "x-ratelimit-limit",
                "x-ratelimit-remaining",
                "x-ratelimit-reset",
            ]),
            allow_credentials: false,
            max_age_secs: 600,
        }
    }
}

/// The built-in `default` plan: generous, so a single user never notices it.
pub fn default_plans() -> BTreeMap<String, Plan> {
    BTreeMap::from([(
        "default".to_owned(),
        Plan {
            rate_per_sec: 20.0,
            burst: 100,
            quotas: BTreeMap::new(),
        },
    )])
}

impl AuthConfig {
    /// Cross-field checks.
    pub fn validate(
        &self,
        plans: &BTreeMap<String, Plan>,
        cors: &CorsConfig,
        bind: SocketAddr,
    ) -> anyhow::Result<()> {
        if self.mode == AuthMode::None && !bind.ip().is_loopback() {
            bail!(
                "auth.mode = \"none\" is only allowed when server.bind is a loopback address (got {bind})"
            );
        }
        if !(300..=86_400).contains(&self.token_ttl_secs) {
            bail!("auth.token_ttl_secs must be between 300 (5 min) and 86400 (1 day)");
        }
        if !(3_600..=3_650 * 86_400).contains(&self.refresh_ttl_secs) {
            bail!("auth.refresh_ttl_secs must be between 3600 and 315360000");
        }
        if self.client_id.is_empty() {
            bail!("auth.client_id must not be empty");
        }
        if !plans.contains_key(&self.default_plan) {
            bail!(
                "auth.default_plan names `{}`, which is not a plan",
                self.default_plan
            );
        }
        for (name, plan) in plans {
            if !(plan.rate_per_sec.is_finite() && plan.rate_per_sec > 0.0) || plan.burst == 0 {
                bail!("plans.{name}: rate_per_sec must be positive and burst at least 1");
            }
        }
        if self.challenge.enabled
            && (!(1_000..=100_000_000).contains(&self.challenge.max_number)
                || !(30..=86_400).contains(&self.challenge.ttl_secs))
        {
            bail!(
                "auth.challenge needs max_number between 1000 and 100000000 and ttl_secs between 30 and 86400"
            );
        }
        if self.password_policy.min_length < 6 {
            bail!("auth.password_policy.min_length must be at least 6");
        }
        if self.lockout.threshold == 0
            || self.lockout.base_ms <= 0
            || self.lockout.max_ms < self.lockout.base_ms
        {
            bail!("auth.lockout needs threshold ≥ 1 and 0 < base_ms ≤ max_ms");
        }
        for (i, external) in self.external.iter().enumerate() {
            if external.issuer.is_empty() || external.client_id.is_empty() {
                bail!("auth.external[{i}] needs issuer and client_id");
            }
            if !(external.jwks_url.starts_with("https://")
                || external.jwks_url.starts_with("http://"))
            {
                bail!("auth.external[{i}].jwks_url must be an http(s) URL");
            }
        }
        if cors.allow_credentials && cors.allowed_origins.iter().any(|o| o == "*") {
            bail!(
                "cors.allowed_origins = [\"*\"] cannot be combined with cors.allow_credentials = true"
            );
        }
        for origin in &cors.allowed_origins {
            if origin != "*" && !(origin.starts_with("http://") || origin.starts_with("https://")) {
                bail!("cors.allowed_origins: `{origin}` is not `*` or an http(s) origin");
            }
        }
        Ok(())
    }

    /// The plans, with the default one named.
    pub fn plans(&self, plans: &BTreeMap<String, Plan>) -> Plans {
        Plans {
            plans: plans.clone(),
            default_plan: self.default_plan.clone(),
        }
    }

    /// The settings identity runs with; `base_url` is the default issuer.
    pub fn settings(&self, base_url: &str) -> AuthSettings {
        let issuer = self.issuer.clone().unwrap_or_else(|| base_url.to_owned());
        AuthSettings {
            mode: self.mode,
            issuer: issuer.trim_end_matches('/').to_owned(),
            client_id: self.client_id.clone(),
            token_ttl_secs: self.token_ttl_secs,
            refresh_ttl_secs: self.refresh_ttl_secs,
            allow_sign_up: self.allow_sign_up,
            email_verification: self.email_verification,
            challenge: self.challenge,
            password_policy: self.password_policy,
            lockout: LockoutPolicy {
                threshold: self.lockout.threshold,
                base_ms: self.lockout.base_ms,
                max_ms: self.lockout.max_ms,
            },
            external: self.external.clone(),
        }
    }
}

impl CorsConfig {
    /// The settings the API runs with.
    pub fn settings(&self) -> CorsSettings {
        CorsSettings {
            allowed_origins: self.allowed_origins.clone(),
            allowed_methods: self.allowed_methods.clone(),
            allowed_headers: self.allowed_headers.clone(),
            expose_headers: self.expose_headers.clone(),
            allow_credentials: self.allow_credentials,
            max_age_secs: self.max_age_secs,
        }
    }
}
