//! Cross-origin resource sharing settings (the layer itself is built in [`crate::routes`]).

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
