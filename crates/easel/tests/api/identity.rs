//! Sign-up, sign-in, tokens, refresh rotation and reuse detection, sign-out, password
//! change, lockout, API keys and `/v1/me`, over real HTTP.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    ISSUER, PASSWORD, TestApp, bearer_client, decode_claims, error_code, session_from, sign_in,
};

#[tokio::test]
async fn sign_up_in_and_tokens_look_like_cognitos() {
    let app = TestApp::spawn_without_workers().await;
    let claims = decode_claims(&app.user.access_token);
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["token_use"], "access");
    assert_eq!(claims["client_id"], "easel");
    assert_eq!(claims["username"], app.user.username.as_str());
    assert_eq!(claims["groups"], json!([]));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert!(claims["scope"].is_string());
    let id = decode_claims(&app.user.id_token);
    assert_eq!(
        (id["token_use"].as_str(), id["aud"].as_str()),
        (Some("id"), Some("easel"))
    );
    assert_eq!(id["sub"], claims["sub"]);

    // The header names the published key.
    let header = jsonwebtoken::decode_header(&app.user.access_token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    let jwks: Value = app
        .anonymous()
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kid"], header.kid.unwrap());
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    assert!(jwks["keys"][0].get("d").is_none(), "no private part");
    let oidc: Value = app
        .anonymous()
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(oidc["issuer"], ISSUER);
    assert_eq!(oidc["jwks_uri"], format!("{ISSUER}/.well-known/jwks.json"));

    // The token works; no token, a garbage token or the ID token does not.
    assert_eq!(app.get("/v1/jobs").await.status(), StatusCode::OK);
    let anonymous = app
        .anonymous()
        .get(app.url("/v1/jobs"))
        .send()
        .await
        .unwrap();
    assert!(
        anonymous.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(
        error_code(anonymous, StatusCode::UNAUTHORIZED).await,
        "unauthenticated"
    );
    for token in ["garbage", app.user.id_token.as_str()] {
        let response = bearer_client(token)
            .get(app.url("/v1/jobs"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_code(response, StatusCode::UNAUTHORIZED).await,
            "invalid-token"
        );
    }
}

#[tokio::test]
async fn sign_up_refuses_bad_emails_weak_passwords_and_duplicates() {
    let app = TestApp::spawn_without_workers().await;
    let cases = [
        (
            json!({ "email": "not-an-email", "password": PASSWORD }),
            StatusCode::BAD_REQUEST,
            "invalid-email",
        ),
        (
            json!({ "email": "b@example.test", "password": "password" }),
            StatusCode::BAD_REQUEST,
            "invalid-password",
        ),
        (
            json!({ "email": "b@example.test", "password": "Sh0rt!" }),
            StatusCode::BAD_REQUEST,
            "invalid-password",
        ),
        (
            json!({ "email": "USER-A@example.test", "password": PASSWORD }),
            StatusCode::CONFLICT,
            "username-exists",
        ),
        (
            json!({ "email": "b@example.test" }),
            StatusCode::BAD_REQUEST,
            "invalid-request",
        ),
    ];
    for (body, status, code) in cases {
        let response = app
            .anonymous()
            .post(app.url("/v1/auth/sign-up"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(response, status).await, code, "{body}");
    }
}

async fn post(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.anonymous()
        .post(app.url(path))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_revokes_the_family() {
    let app = TestApp::spawn_without_workers().await;
    let first = app.user.refresh_token.clone();
    let response = post(&app, "/v1/auth/refresh", json!({ "refreshToken": first })).await;
    assert_eq!(response.status(), StatusCode::OK);
    let second = session_from(&response.json().await.unwrap(), "user-a@example.test");
    assert_ne!(second.refresh_token, first, "rotated");
    assert_eq!(
        second
            .client
            .get(app.url("/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    // The first token again: reuse. It fails, and so does its live successor.
    let reuse = post(&app, "/v1/auth/refresh", json!({ "refreshToken": first })).await;
    assert_eq!(
        error_code(reuse, StatusCode::UNAUTHORIZED).await,
        "invalid-refresh-token"
    );
    let successor = post(
        &app,
        "/v1/auth/refresh",
        json!({ "refreshToken": second.refresh_token }),
    )
    .await;
    assert_eq!(
        error_code(successor, StatusCode::UNAUTHORIZED).await,
        "invalid-refresh-token"
    );

    // Another sign-in is another family, untouched; sign-out revokes it.
    let third = sign_in(&app.base, "user-a@example.test", PASSWORD).await;
    assert_eq!(
        post(
            &app,
            "/v1/auth/sign-out",
            json!({ "refreshToken": third.refresh_token })
        )
        .await
        .status(),
        StatusCode::NO_CONTENT
    );
    let after = post(
        &app,
        "/v1/auth/refresh",
        json!({ "refreshToken": third.refresh_token }),
    )
    .await;
    assert_eq!(
        error_code(after, StatusCode::UNAUTHORIZED).await,
        "invalid-refresh-token"
    );

    let admin = app.admin().await;
    let events: Value = admin
        .client
        .get(app.url("/v1/admin/audit"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for expected in [
        "sign-in-succeeded",
        "token-refreshed",
        "refresh-token-reused",
        "signed-out",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    let reused = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "refresh-token-reused")
        .unwrap();
    assert_eq!(reused["principal"], app.user.user_id.as_str());
    assert_eq!(reused["ip"], "127.0.0.1");
    assert!(reused["requestId"].as_str().is_some_and(|r| !r.is_empty()));
}

#[tokio::test]
async fn failed_sign_ins_lock_the_name_whether_or_not_it_exists() {
    let app = TestApp::spawn_with(false, |config| {
        config.auth.lockout.base_ms = 1_000;
    })
    .await;
    for username in ["user-a@example.test", "nobody@example.test"] {
        let mut codes = Vec::new();
        for _ in 0..5 {
            let response = post(
                &app,
                "/v1/auth/sign-in",
                json!({ "username": username, "password": "Wr0ng-pass" }),
            )
            .await;
            codes.push(error_code(response, StatusCode::UNAUTHORIZED).await);
        }
        assert!(
            codes.iter().all(|c| c == "invalid-credentials"),
            "{codes:?}"
        );
        // The fifth failure locked the name: even the right password is refused now.
        let locked = post(
            &app,
            "/v1/auth/sign-in",
            json!({ "username": username, "password": PASSWORD }),
        )
        .await;
        let retry: u64 = locked.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=2).contains(&retry), "{retry}");
        assert_eq!(
            error_code(locked, StatusCode::TOO_MANY_REQUESTS).await,
            "too-many-failed-sign-ins"
        );
    }
    // After the lockout the right password works and resets the count.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    sign_in(&app.base, "user-a@example.test", PASSWORD).await;
    let wrong = post(
        &app,
        "/v1/auth/sign-in",
        json!({ "username": "user-a@example.test", "password": "Wr0ng-pass" }),
    )
    .await;
    assert_eq!(
        error_code(wrong, StatusCode::UNAUTHORIZED).await,
        "invalid-credentials"
    );
    let admin = app.admin().await;
    let events: Value = admin
        .client
        .get(app.url("/v1/admin/audit?limit=1000"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let locks = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "account-locked")
        .count();
    assert_eq!(locks, 2);
}

#[tokio::test]
async fn password_change_takes_the_old_password_and_signs_out_elsewhere() {
    let app = TestApp::spawn_without_workers().await;
    let change = |current: &str, new: &str| {
        app.client
            .post(app.url("/v1/auth/password"))
            .json(&json!({ "currentPassword": current, "newPassword": new }))
            .send()
    };
    assert_eq!(
        error_code(
            change("Wr0ng-pass!", "N3w-password").await.unwrap(),
            StatusCode::FORBIDDEN
        )
        .await,
        "forbidden"
    );
    assert_eq!(
        error_code(
            change(PASSWORD, "weak").await.unwrap(),
            StatusCode::BAD_REQUEST
        )
        .await,
        "invalid-password"
    );
    assert_eq!(
        change(PASSWORD, "N3w-password").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let old = post(
        &app,
        "/v1/auth/sign-in",
        json!({ "username": "user-a@example.test", "password": PASSWORD }),
    )
    .await;
    assert_eq!(
        error_code(old, StatusCode::UNAUTHORIZED).await,
        "invalid-credentials"
    );
    sign_in(&app.base, "user-a@example.test", "N3w-password").await;
    let refresh = post(
        &app,
        "/v1/auth/refresh",
        json!({ "refreshToken": app.user.refresh_token }),
    )
    .await;
    assert_eq!(
        error_code(refresh, StatusCode::UNAUTHORIZED).await,
        "invalid-refresh-token"
    );
}

#[tokio::test]
async fn api_keys_are_shown_once_work_both_ways_and_revoke() {
    let app = TestApp::spawn_without_workers().await;
    let created = app
        .client
        .post(app.url("/v1/keys"))
        .json(&json!({ "name": "ci" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let prefix = created["prefix"].as_str().unwrap();
    assert!(key.starts_with(prefix) && prefix.starts_with("ek_"));
    let listed: Value = app.get("/v1/keys").await.json().await.unwrap();
    assert_eq!(listed["keys"][0]["prefix"], prefix);
    assert!(
        listed["keys"][0].get("key").is_none(),
        "the secret is shown once"
    );

    let with_header = app
        .anonymous()
        .get(app.url("/v1/me"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    let me: Value = with_header.json().await.unwrap();
    assert_eq!(
        (me["userId"].as_str(), me["authenticatedWith"].as_str()),
        (Some(app.user.user_id.as_str()), Some("api-key"))
    );
    let with_bearer = bearer_client(&key)
        .get(app.url("/v1/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(with_bearer.status(), StatusCode::OK);
    let wrong = app
        .anonymous()
        .get(app.url("/v1/me"))
        .header("x-api-key", format!("{key}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(wrong, StatusCode::UNAUTHORIZED).await,
        "invalid-token"
    );

    // Another user cannot revoke it (404), the owner can, and then it stops working.
    let other = app.new_user("user-b@example.test").await;
    let id = created["id"].as_str().unwrap();
    let theirs = other
        .client
        .delete(app.url(&format!("/v1/keys/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(theirs, StatusCode::NOT_FOUND).await,
        "key-not-found"
    );
    assert_eq!(
        app.client
            .delete(app.url(&format!("/v1/keys/{id}")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    let revoked = app
        .anonymous()
        .get(app.url("/v1/me"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(revoked, StatusCode::UNAUTHORIZED).await,
        "invalid-token"
    );
    let bad_name = app
        .client
        .post(app.url("/v1/keys"))
        .json(&json!({ "name": "" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(bad_name, StatusCode::BAD_REQUEST).await,
        "invalid-key-name"
    );
}

#[tokio::test]
async fn the_first_admin_is_an_admin_and_others_are_not() {
    let app = TestApp::spawn_without_workers().await;
    let admin = app.admin().await;
    let me: Value = admin
        .client
        .get(app.url("/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (me["admin"].as_bool(), me["username"].as_str()),
        (Some(true), Some("admin"))
    );
    assert_eq!(
        decode_claims(&admin.access_token)["groups"],
        json!(["admin"])
    );
    let me: Value = app.get("/v1/me").await.json().await.unwrap();
    assert_eq!(me["admin"], false);
    assert_eq!(me["plan"]["name"], "default");
    let denied = app.get("/v1/admin/audit").await;
    assert_eq!(error_code(denied, StatusCode::FORBIDDEN).await, "forbidden");
}
