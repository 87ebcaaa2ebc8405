//! Forged and altered tokens: every one is refused with 401 `invalid-token`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use easel_services::identity::{Claims, SigningKey};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ISSUER, TestApp, bearer_client, decode_claims, error_code};

/// Easel's own signing key's seed, read from the database.
async fn server_seed(app: &TestApp) -> [u8; 32] {
    app.secret("token-signing/").await.try_into().unwrap()
}

/// Easel's own key, to sign tokens whose claims are wrong.
async fn server_key(app: &TestApp) -> SigningKey {
    SigningKey::from_seed(&server_seed(app).await).unwrap()
}

fn valid_claims(app: &TestApp) -> Claims {
    serde_json::from_value(decode_claims(&app.user.access_token)).unwrap()
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

async fn status_of(app: &TestApp, token: &str) -> (StatusCode, String) {
    let response = bearer_client(token)
        .get(app.url("/v1/jobs"))
        .send()
        .await
        .unwrap();
    let status = response.status();
    if status.is_success() {
        return (status, String::new());
    }
    (status, error_code(response, status).await)
}

async fn assert_refused(app: &TestApp, token: &str, what: &str) {
    assert_eq!(
        status_of(app, token).await,
        (StatusCode::UNAUTHORIZED, "invalid-token".to_owned()),
        "{what}"
    );
}

#[tokio::test]
async fn forged_and_altered_tokens_are_refused() {
    let app = TestApp::spawn_without_workers().await;
    let key = server_key(&app).await;
    let good = valid_claims(&app);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Control: a token signed with the server's key and valid claims is accepted, so the
    // refusals below are about what each case changes.
    let control = key
        .sign(&Claims {
            jti: "control".into(),
            ..good.clone()
        })
        .unwrap();
    assert_eq!(status_of(&app, &control).await.0, StatusCode::OK);

    let header = json!({ "alg": "none", "typ": "JWT", "kid": key.kid() });
    let payload = serde_json::to_value(&good).unwrap();
    let alg_none = format!("{}.{}.", b64(&header), b64(&payload));
    assert_refused(&app, &alg_none, "alg none").await;

    let mut other_seed = [7u8; 32];
    other_seed[0] = 1;
    let other = SigningKey::from_seed(&other_seed).unwrap();
    let mut other_header = Header::new(Algorithm::EdDSA);
    other_header.kid = Some(key.kid().to_owned());
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&other_seed);
    let by_other_key =
        jsonwebtoken::encode(&other_header, &good, &EncodingKey::from_ed_der(&der)).unwrap();
    assert_refused(&app, &by_other_key, "signed by another key under our kid").await;
    assert_refused(
        &app,
        &other.sign(&good).unwrap(),
        "signed by another key, its own kid",
    )
    .await;

    // HS256 keyed with the public key (the classic algorithm confusion).
    let jwks: Value = app
        .anonymous()
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let public_x = jwks["keys"][0]["x"].as_str().unwrap();
    for secret in [
        public_x.as_bytes().to_vec(),
        URL_SAFE_NO_PAD.decode(public_x).unwrap(),
    ] {
        let mut hs = Header::new(Algorithm::HS256);
        hs.kid = Some(key.kid().to_owned());
        let token = jsonwebtoken::encode(&hs, &good, &EncodingKey::from_secret(&secret)).unwrap();
        assert_refused(&app, &token, "HS256 with the public key").await;
    }

    let cases = [
        (
            "expired beyond the leeway",
            Claims {
                exp: now - 120,
                iat: now - 3_720,
                ..good.clone()
            },
        ),
        (
            "not yet valid beyond the leeway",
            Claims {
                nbf: Some(now + 300),
                ..good.clone()
            },
        ),
        (
            "wrong issuer",
            Claims {
                iss: "http://evil.test".into(),
                ..good.clone()
            },
        ),
        (
            "wrong client",
            Claims {
                client_id: Some("other-app".into()),
                ..good.clone()
            },
        ),
        (
            "ID token as access token",
            Claims {
                token_use: "id".into(),
                client_id: None,
                aud: Some(json!("easel")),
                ..good.clone()
            },
        ),
        (
            "unknown subject",
            Claims {
                sub: "no-such-user".into(),
                ..good.clone()
            },
        ),
    ];
    for (what, claims) in cases {
        assert_refused(&app, &key.sign(&claims).unwrap(), what).await;
    }
    // Within the leeway an expired token still passes (clock skew).
    let skewed = key
        .sign(&Claims {
            exp: now - 30,
            ..good.clone()
        })
        .unwrap();
    assert_eq!(
        status_of(&app, &skewed).await.0,
        StatusCode::OK,
        "30 s of skew"
    );
    assert_eq!(good.iss, ISSUER);

    // Tampered payload: our signature over different claims.
    let parts: Vec<&str> = control.split('.').collect();
    let mut admin_payload = payload.clone();
    admin_payload["groups"] = json!(["admin"]);
    let tampered = format!("{}.{}.{}", parts[0], b64(&admin_payload), parts[2]);
    assert_refused(&app, &tampered, "tampered payload").await;

    // kids with path or SQL characters, signed with the real key.
    for kid in [
        "../../../../etc/passwd",
        "' OR '1'='1",
        "x\"; DROP TABLE users; --",
        "",
    ] {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        der.extend_from_slice(&server_seed(&app).await);
        let token = jsonwebtoken::encode(&header, &good, &EncodingKey::from_ed_der(&der)).unwrap();
        assert_refused(&app, &token, kid).await;
    }
    // The users table survived the injected kid.
    assert_eq!(status_of(&app, &control).await.0, StatusCode::OK);
}
