//! Trust in an external OIDC issuer (a Cognito user pool): its JWKS is fetched on first
//! use, cached, and fetched again when a token names a `kid` the cache lacks (key
//! rotation), at most once per [`REFRESH_COOLDOWN`] so that forged `kid`s cannot turn
//! Easel into a request amplifier.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::Mutex;

use super::jwt::{Claims, TokenError, TokenUse, plausible_kid, verify};
use super::settings::ExternalIssuer;

/// Shortest time between two JWKS fetches.
pub const REFRESH_COOLDOWN: Duration = Duration::from_secs(10);

/// Longest a JWKS fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Cached keys of one external issuer.
pub struct ExternalVerifier {
    /// The issuer's settings.
    pub settings: ExternalIssuer,
    client: reqwest::Client,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    /// Whether the first fetch happened.
    loaded: bool,
    /// When an unknown `kid` last caused a fetch.
    refetched_at: Option<Instant>,
}

impl ExternalVerifier {
    /// A verifier with an empty cache.
    pub fn new(settings: ExternalIssuer) -> ExternalVerifier {
        install_tls_provider();
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .unwrap_or_default();
        ExternalVerifier {
            settings,
            client,
            cache: Mutex::new(Cache::default()),
        }
    }

    /// Verifies an access token of this issuer.
    pub async fn verify_access(&self, token: &str, kid: &str) -> Result<Claims, TokenError> {
        if !plausible_kid(kid) {
            return Err(TokenError::UnknownKey);
        }
        let (key, algorithm) = self.key(kid).await.ok_or(TokenError::UnknownKey)?;
        verify(
            token,
            &key,
            algorithm,
            &self.settings.issuer,
            &self.settings.client_id,
            TokenUse::Access,
        )
    }

    async fn key(&self, kid: &str) -> Option<(DecodingKey, Algorithm)> {
        let mut cache = self.cache.lock().await;
        if let Some(found) = cache.keys.get(kid) {
            return Some(found.clone());
        }
        if cache.loaded {
            let cooling = cache
                .refetched_at
                .is_some_and(|at| at.elapsed() < REFRESH_COOLDOWN);
            if cooling {
                return None;
            }
            cache.refetched_at = Some(Instant::now());
        }
        cache.loaded = true;
        match self.fetch().await {
            Ok(keys) => cache.keys = keys,
            Err(error) => {
                tracing::warn!(issuer = %self.settings.issuer, %error, "cannot fetch the JWKS");
            }
        }
        cache.keys.get(kid).cloned()
    }

    async fn fetch(&self) -> Result<HashMap<String, (DecodingKey, Algorithm)>, String> {
        let response = self
            .client
            .get(&self.settings.jwks_url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("the JWKS URL answered {}", response.status()));
        }
        let set: JwkSet = response.json().await.map_err(|e| e.to_string())?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            // Pin each key to the one algorithm its type allows; symmetric keys never.
            let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
                (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
                (AlgorithmParameters::RSA(_), Some(KeyAlgorithm::RS384)) => Algorithm::RS384,
                (AlgorithmParameters::RSA(_), Some(KeyAlgorithm::RS512)) => Algorithm::RS512,
                (AlgorithmParameters::OctetKeyPair(_), None | Some(KeyAlgorithm::EdDSA)) => {
                    Algorithm::EdDSA
                }
                (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
                    if ec.curve == EllipticCurve::P256 =>
                {
                    Algorithm::ES256
                }
                _ => continue,
            };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                keys.insert(kid, (key, algorithm));
            }
        }
        tracing::info!(issuer = %self.settings.issuer, keys = keys.len(), "fetched the JWKS");
        Ok(keys)
    }
}

/// Makes `ring` the process's TLS crypto provider (once; a provider installed earlier
/// stays). Every `reqwest` client needs one, for HTTPS JWKS URLs such as a Cognito
/// pool's; call it before building any client.
pub fn install_tls_provider() {
    // An error only means a provider is already installed, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
