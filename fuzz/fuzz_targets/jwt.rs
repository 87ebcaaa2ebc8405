//! A bearer token from an attacker, through the real verifier ([`Tokens::verify`], as
//! credential resolution calls it) for both uses, and the parts under it (`peek`). A
//! token that verifies must carry exactly what the fixture issued (nothing is forged),
//! its claims must be the token's payload, they must satisfy every rule of the use
//! (issuer, client, `token_use`, expiry), and re-signing them must verify to the same.
#![no_main]

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use easel_fuzz::jwt::{CLIENT_ID, ISSUER, signing_key, tokens, users};
use easel_services::identity::jwt::{LEEWAY_SECS, peek};
use easel_services::identity::{ADMIN_GROUP, Claims, Issuer, TokenUse};
use jsonwebtoken::Algorithm;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tokio::runtime::Runtime;

static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
});

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let peeked = peek(token);
    for expected in [TokenUse::Access, TokenUse::Id] {
        let Ok((claims, issuer)) = RUNTIME.block_on(tokens().verify(token, expected)) else {
            continue;
        };
        assert_eq!(issuer, Issuer::Local);
        let (header, iss) = peeked.as_ref().expect("a verified token peeks");
        assert_eq!(iss, ISSUER);
        assert_eq!(header.kid.as_deref(), Some(signing_key().kid()));
        assert_eq!(header.alg, Algorithm::EdDSA);
        check_claims(&claims, expected);
        assert_eq!(claims, payload(token), "the claims are the payload");
        let resigned = signing_key().sign(&claims).expect("signs");
        let again = RUNTIME.block_on(tokens().verify(&resigned, expected));
        assert_eq!(again.ok().map(|(c, _)| c), Some(claims));
    }
});

/// The rules of `expected`, and that the claims are the fixture's (only it signs).
fn check_claims(claims: &Claims, expected: TokenUse) {
    assert_eq!(claims.iss, ISSUER);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    assert!(
        claims.exp + LEEWAY_SECS as i64 >= now,
        "expired: {claims:?}"
    );
    if let Some(nbf) = claims.nbf {
        assert!(nbf - LEEWAY_SECS as i64 <= now, "not yet valid: {claims:?}");
    }
    match expected {
        TokenUse::Access => {
            assert_eq!(claims.token_use, "access");
            let client = claims
                .client_id
                .as_deref()
                .or_else(|| claims.aud.as_ref().and_then(Value::as_str));
            assert_eq!(client, Some(CLIENT_ID));
        }
        TokenUse::Id => {
            assert_eq!(claims.token_use, "id");
            assert_eq!(claims.aud, Some(Value::from(CLIENT_ID)));
        }
    }
    let user = users()
        .into_iter()
        .find(|u| u.id == claims.sub)
        .unwrap_or_else(|| panic!("a token for a user the fixture never issued: {claims:?}"));
    assert_eq!(claims.username.as_deref(), Some(user.username.as_str()));
    assert_eq!(claims.in_group(ADMIN_GROUP), user.admin);
}

/// The payload decoded without any check.
fn payload(token: &str) -> Claims {
    let part = token.split('.').nth(1).expect("three parts");
    let bytes = URL_SAFE_NO_PAD.decode(part).expect("base64url");
    serde_json::from_slice(&bytes).expect("the payload is the claims")
}
