//! Easel's real token issuer ([`Tokens`]) with a fixed Ed25519 key, and the user its
//! fixture tokens are issued to. Tokens are issued at [`FAR`] so that they stay valid:
//! `iat` is not checked and `exp` is then in 2100.

use std::sync::{Arc, LazyLock};

use easel_services::identity::{
    AuthMode, AuthSettings, IssuedTokens, KeyRing, PasswordPolicy, RingKey, SigningKey, Tokens,
};
use easel_store::{LockoutPolicy, Notifications, User};

use crate::FAR;

/// `iss` of the fixture's tokens.
pub const ISSUER: &str = "http://easel.fuzz";
/// The client id (`client_id` of access tokens, `aud` of ID tokens).
pub const CLIENT_ID: &str = "easel";

/// The fixture's signing key (its seed is used nowhere else).
pub fn signing_key() -> Arc<SigningKey> {
    static KEY: LazyLock<Arc<SigningKey>> =
        LazyLock::new(|| Arc::new(SigningKey::from_seed(&[0x5a; 32]).expect("an Ed25519 seed")));
    KEY.clone()
}

/// Token issuing and verification with [`signing_key`], no external issuer.
pub fn tokens() -> &'static Tokens {
    static TOKENS: LazyLock<Tokens> = LazyLock::new(|| {
        let settings = AuthSettings {
            mode: AuthMode::Local,
            issuer: ISSUER.to_owned(),
            client_id: CLIENT_ID.to_owned(),
            token_ttl_secs: 3_600,
            refresh_ttl_secs: 86_400,
            allow_sign_up: true,
            email_verification: Default::default(),
            challenge: Default::default(),
            password_policy: PasswordPolicy::default(),
            lockout: LockoutPolicy {
                threshold: 5,
                base_ms: 1_000,
                max_ms: 900_000,
            },
            external: Vec::new(),
        };
        let ring = KeyRing::new(vec![RingKey {
            key: signing_key(),
            created_at: 0,
        }]);
        Tokens::new(settings, ring)
    });
    &TOKENS
}

/// The users tokens are issued to: an administrator and an e-mail user.
pub fn users() -> [User; 2] {
    let user = |id: &str, username: &str, admin: bool| User {
        id: id.to_owned(),
        username: username.to_owned(),
        password_hash: String::new(),
        admin,
        plan: None,
        disabled: false,
        created_at: 0,
        updated_at: 0,
        email_verified_at: None,
        pending_email: None,
        notifications: Notifications::default(),
    };
    [
        user("0190e0a4-0000-7000-8000-000000000001", "admin", true),
        user(
            "0190e0a4-0000-7000-8000-000000000002",
            "me@example.com",
            false,
        ),
    ]
}

/// Tokens for `user`, issued by the real issuer (each call draws new `jti`s).
pub fn issue(user: &User) -> IssuedTokens {
    tokens()
        .issue(user, FAR - 3_600)
        .expect("the fixture key signs")
}
