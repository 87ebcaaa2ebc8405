//! Token issuing and verification: Easel's own ID and access tokens (Ed25519 JWTs with
//! Cognito's claims) and the access tokens of trusted external issuers, and the server
//! secret SigV4 access-key secrets are derived from.

use easel_store::User;
use jsonwebtoken::Algorithm;
use uuid::Uuid;

use super::external::ExternalVerifier;
use super::jwt::{self, Claims, TokenError, TokenUse};
use super::keyring::KeyRing;
use super::settings::AuthSettings;

/// The group whose members are administrators.
pub const ADMIN_GROUP: &str = "admin";

/// Token issuing and verification for one deployment.
pub struct Tokens {
    /// The settings.
    pub settings: AuthSettings,
    keys: KeyRing,
    external: Vec<ExternalVerifier>,
    /// Derives the secrets of SigV4 access keys ([`super::access_keys::derive_secret`]).
    access_key_secret: Vec<u8>,
}

/// A freshly issued ID and access token.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    /// The ID token.
    pub id_token: String,
    /// The access token.
    pub access_token: String,
    /// Their lifetime, in seconds.
    pub expires_in: i64,
}

/// Whose token it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issuer {
    /// Easel's own.
    Local,
    /// The external issuer at this index.
    External(usize),
}

impl Tokens {
    /// Identity with Easel's signing key (absent only with `mode = "none"`).
    pub fn new(settings: AuthSettings, keys: KeyRing) -> Tokens {
        let external = settings
            .external
            .iter()
            .cloned()
            .map(ExternalVerifier::new)
            .collect();
        // A process-local secret until the persisted one is set: access keys then work
        // only until restart, never with a guessable secret.
        let mut access_key_secret = vec![0u8; 32];
        rand::fill(&mut access_key_secret[..]);
        Tokens {
            settings,
            keys,
            external,
            access_key_secret,
        }
    }

    /// Uses `secret` (persisted by the caller) to derive SigV4 access-key secrets.
    pub fn with_access_key_secret(mut self, secret: Vec<u8>) -> Tokens {
        self.access_key_secret = secret;
        self
    }

    /// The secret SigV4 access-key secrets are derived from.
    pub fn access_key_secret(&self) -> &[u8] {
        &self.access_key_secret
    }

    /// Easel's signing keys (the JWKS publishes them; a reload replaces them).
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// The external verifier at `index`.
    pub fn external(&self, index: usize) -> Option<&ExternalVerifier> {
        self.external.get(index)
    }

    /// Issues an ID and an access token for `user`.
    pub fn issue(&self, user: &User, now_secs: i64) -> Result<IssuedTokens, String> {
        let key = self
            .keys
            .signing_key(now_secs * 1000)
            .ok_or("no signing key")?;
        let ttl = self.settings.token_ttl_secs;
        let groups = if user.admin {
            vec![ADMIN_GROUP.to_owned()]
        } else {
            Vec::new()
        };
        let base = Claims {
            sub: user.id.clone(),
            iss: self.settings.issuer.clone(),
            exp: now_secs + ttl,
            iat: now_secs,
            username: Some(user.username.clone()),
            groups,
            ..Claims::default()
        };
        let id = Claims {
            aud: Some(self.settings.client_id.clone().into()),
            token_use: "id".to_owned(),
            jti: Uuid::new_v4().to_string(),
            email: user.username.contains('@').then(|| user.username.clone()),
            ..base.clone()
        };
        let access = Claims {
            client_id: Some(self.settings.client_id.clone()),
            token_use: "access".to_owned(),
            scope: Some("easel/api".to_owned()),
            jti: Uuid::new_v4().to_string(),
            ..base
        };
        Ok(IssuedTokens {
            id_token: key.sign(&id)?,
            access_token: key.sign(&access)?,
            expires_in: ttl,
        })
    }

    /// Verifies a token presented for `expected` use, with the key of the issuer it
    /// names; returns its claims and which issuer it came from.
    pub async fn verify(
        &self,
        token: &str,
        expected: TokenUse,
    ) -> Result<(Claims, Issuer), TokenError> {
        let (header, iss) = jwt::peek(token)?;
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        if iss == self.settings.issuer {
            if self.keys.is_empty() {
                return Err(TokenError::UntrustedIssuer);
            }
            let decoding = self.keys.decoding_key(&kid).ok_or(TokenError::UnknownKey)?;
            let claims = jwt::verify(
                token,
                &decoding,
                Algorithm::EdDSA,
                &self.settings.issuer,
                &self.settings.client_id,
                expected,
            )?;
            return Ok((claims, Issuer::Local));
        }
        let (index, verifier) = self
            .external
            .iter()
            .enumerate()
            .find(|(_, v)| v.settings.issuer == iss)
            .ok_or(TokenError::UntrustedIssuer)?;
        if expected != TokenUse::Access {
            return Err(TokenError::WrongToken(
                "only access tokens of external issuers",
            ));
        }
        let claims = verifier.verify_access(token, &kid).await?;
        Ok((claims, Issuer::External(index)))
    }
}
