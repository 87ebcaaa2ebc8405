//! Keys and secrets in the database: a rotation publishes old and new keys to every
//! process, tokens of either verify everywhere, and a secrets key seals them at rest.

use easel::app::{Application, Stores};
use easel_core::now_millis;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{PASSWORD, TestApp, bearer_client, decode_claims, sign_in};

async fn jwks(app: &TestApp) -> Vec<String> {
    let body: Value = app
        .anonymous()
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn kid(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header).unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_rotated_key_is_published_everywhere_and_old_tokens_keep_working() {
    let app = TestApp::spawn().await;
    let old_token = app.user.access_token.clone();
    let old_kid = kid(&old_token);
    assert_eq!(jwks(&app).await, std::slice::from_ref(&old_kid));
    // `easel keys rotate`, as another process would run it.
    let stores = Stores::open(&app.config).await.unwrap();
    let secrets = easel::secrets::shared(&app.config, stores.metadata.clone()).unwrap();
    let new_kid = secrets
        .rotate_signing_key(app.config.auth.token_ttl_secs, now_millis())
        .await
        .unwrap();
    assert_ne!(new_kid, old_kid);
    // A process started now publishes both, and takes tokens signed with the old key.
    let sibling = app.sibling(|_| {}).await;
    let published = jwks(&sibling).await;
    assert_eq!(published.len(), 2, "{published:?}");
    assert!(published.contains(&old_kid) && published.contains(&new_kid));
    let me = bearer_client(&old_token)
        .get(sibling.url("/v1/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    // The new key is not used for signing until every process has had time to load it.
    let fresh = sign_in(&sibling.base, &app.user.username, PASSWORD).await;
    assert_eq!(kid(&fresh.access_token), old_kid);
    assert_eq!(decode_claims(&fresh.access_token)["sub"], app.user.user_id);
}

#[tokio::test]
async fn a_secrets_key_seals_them_and_is_needed_to_start() {
    let key = "11".repeat(32);
    let app = TestApp::spawn_with(true, |config| config.secrets.key = Some(key.clone())).await;
    // Stored sealed: not the 32-byte seed itself.
    let stored = app.secret("token-signing/").await;
    assert!(stored.starts_with(b"easel-sealed-v1:"), "{stored:?}");
    let stored = app.secret("presign/local").await;
    assert!(stored.starts_with(b"easel-sealed-v1:"));
    // The application works with them (a presigned upload round trip).
    let key_name = app
        .upload("a.png", "image/png", crate::helpers::png(8, 8))
        .await;
    assert!(key_name.starts_with("uploads/"));
    // A process without the key refuses to start, saying why.
    let mut unkeyed = app.config.clone();
    unkeyed.secrets.key = None;
    let error = Application::build(unkeyed).await.err().expect("refused");
    let message = format!("{error:#}");
    assert!(
        message.contains("no secrets key is configured"),
        "{message}"
    );
    // Nor with another key.
    let mut wrong = app.config.clone();
    wrong.secrets.key = Some("22".repeat(32));
    let error = Application::build(wrong).await.err().expect("refused");
    assert!(
        format!("{error:#}").contains("does not decrypt"),
        "{error:#}"
    );
}
