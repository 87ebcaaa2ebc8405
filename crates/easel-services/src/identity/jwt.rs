//! JSON Web Tokens like Cognito's: an ID token and an access token signed with Easel's
//! Ed25519 key (`kid` in the header, the public key published as a JWKS), and their
//! validation: the algorithm is pinned to the key's, `kid` must name a known key, and
//! `iss`, `client_id`/`aud`, `token_use`, `exp` and `nbf` (60 s leeway) are checked.

use std::collections::HashSet;

use jsonwebtoken::jwk::{Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 60;

/// The DER prefix of a PKCS#8 v1 Ed25519 private key; the 32-byte seed follows.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Why a token was refused. Clients only ever see `invalid-token`; the reason is logged.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts, or a header or payload that is not JSON.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The header has no `kid`, or one no trusted issuer published.
    #[error("unknown key id")]
    UnknownKey,
    /// The `iss` is not trusted.
    #[error("untrusted issuer")]
    UntrustedIssuer,
    /// Signature, algorithm or a registered claim failed.
    #[error("rejected: {0}")]
    Rejected(String),
    /// `token_use`, `client_id` or `aud` is not what this use needs.
    #[error("wrong token: {0}")]
    WrongToken(&'static str),
}

/// Easel's signing key and its public JWK.
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Jwk,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// The key whose 32-byte Ed25519 seed is `seed`; `kid` is derived from the public key.
    pub fn from_seed(seed: &[u8; 32]) -> Result<SigningKey, String> {
        let mut der = PKCS8_ED25519_PREFIX.to_vec();
        der.extend_from_slice(seed);
        let encoding = EncodingKey::from_ed_der(&der);
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::EdDSA)
            .map_err(|e| format!("not an Ed25519 key: {e}"))?;
        let x = match &jwk.algorithm {
            jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(okp) => okp.x.clone(),
            _ => return Err("not an Ed25519 key".to_owned()),
        };
        let kid = hex::encode(&Sha256::digest(x.as_bytes())[..8]);
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_algorithm = Some(KeyAlgorithm::EdDSA);
        let decoding = DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
        Ok(SigningKey {
            kid,
            encoding,
            decoding,
            jwk,
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// Signs `claims`.
    pub fn sign(&self, claims: &Claims) -> Result<String, String> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|e| e.to_string())
    }

    /// The verification key for `kid`, if it is this key's.
    pub fn decoding_key(&self, kid: &str) -> Option<&DecodingKey> {
        (kid == self.kid).then_some(&self.decoding)
    }
}

/// The claims Easel issues and reads. Cognito's names; `cognito:groups` and
/// `cognito:username` are read from external tokens too.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The subject: the user's id.
    pub sub: String,
    /// The issuer.
    pub iss: String,
    /// ID tokens: the client id (a string, or an array in some issuers' tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Value>,
    /// Access tokens: the client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `id` or `access`.
    pub token_use: String,
    /// Access tokens: granted scopes, space-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Issue time (Unix seconds).
    pub iat: i64,
    /// Not before (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Unique token id.
    #[serde(default)]
    pub jti: String,
    /// The sign-in name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Cognito's name for the sign-in name.
    #[serde(
        rename = "cognito:username",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub cognito_username: Option<String>,
    /// ID tokens: the email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Groups (`admin` for administrators).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Cognito's groups claim.
    #[serde(
        rename = "cognito:groups",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cognito_groups: Vec<String>,
}

impl Claims {
    /// Whether the token says its subject is in `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups
            .iter()
            .chain(&self.cognito_groups)
            .any(|g| g == group)
    }
}

/// What a token is presented for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUse {
    /// Calling the API.
    Access,
    /// Identifying the user to a client.
    Id,
}

/// The unverified header and issuer of a token, to pick the key that checks it.
pub fn peek(token: &str) -> Result<(Header, String), TokenError> {
    let header =
        jsonwebtoken::decode_header(token).map_err(|e| TokenError::Malformed(e.to_string()))?;
    let claims: Value = jsonwebtoken::dangerous::insecure_decode_claims(token)
        .map_err(|e| TokenError::Malformed(e.to_string()))?;
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .ok_or(TokenError::UntrustedIssuer)?
        .to_owned();
    Ok((header, iss))
}

/// Verifies `token` with `key` under `algorithm` only, then its claims for `expected`.
pub fn verify(
    token: &str,
    key: &DecodingKey,
    algorithm: Algorithm,
    issuer: &str,
    client_id: &str,
    expected: TokenUse,
) -> Result<Claims, TokenError> {
    let mut validation = Validation::new(algorithm);
    validation.leeway = LEEWAY_SECS;
    validation.validate_nbf = true;
    validation.validate_exp = true;
    // `aud` (ID tokens) and `client_id` (access tokens) are checked below by use.
    validation.validate_aud = false;
    validation.set_issuer(&[issuer]);
    validation.required_spec_claims = HashSet::from(["exp", "iss", "sub"].map(str::to_owned));
    let data = jsonwebtoken::decode::<Claims>(token, key, &validation)
        .map_err(|e| TokenError::Rejected(e.to_string()))?;
    let claims = data.claims;
    match expected {
        TokenUse::Access => {
            if claims.token_use != "access" {
                return Err(TokenError::WrongToken("not an access token"));
            }
            let client = claims
                .client_id
                .as_deref()
                .or_else(|| claims.aud.as_ref().and_then(Value::as_str));
            if client != Some(client_id) {
                return Err(TokenError::WrongToken("issued to another client"));
            }
        }
        TokenUse::Id => {
            if claims.token_use != "id" {
                return Err(TokenError::WrongToken("not an ID token"));
            }
            let audience_ok = match &claims.aud {
                Some(Value::String(aud)) => aud == client_id,
                Some(Value::Array(list)) => list.iter().any(|a| a == client_id),
                _ => false,
            };
            if !audience_ok {
                return Err(TokenError::WrongToken("issued to another audience"));
            }
        }
    }
    Ok(claims)
}

/// Whether a `kid` is plausible enough to look up (and, for external issuers, to
/// trigger a JWKS refresh): short, and only base64url/hex-like characters.
pub fn plausible_kid(kid: &str) -> bool {
    (1..=128).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_=+/.".contains(&b))
        && !kid.contains("..")
}
