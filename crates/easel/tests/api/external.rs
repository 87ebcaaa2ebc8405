//! Trusting an external issuer (a Cognito user pool): the test serves its own JWKS from
//! a tiny axum server, rotates keys, and checks that Easel fetches, caches and refetches;
//! and an external principal, recorded on first sight, gets a plan from `easel user`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::routing::get;
use easel_core::OpClass;
use easel_services::identity::{Claims, ExternalIssuer, SigningKey};
use easel_services::usage::{Plan, QuotaLimits};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, bearer_client, error_code};

const CLIENT_ID: &str = "cognito-app-client";

struct Pool {
    issuer: String,
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<Mutex<u32>>,
}

async fn serve_pool() -> Pool {
    let keys = Arc::new(Mutex::new(Vec::new()));
    let fetches = Arc::new(Mutex::new(0));
    let (served, counted) = (keys.clone(), fetches.clone());
    let router = axum::Router::new().route(
        "/.well-known/jwks.json",
        get(move || {
            let (served, counted) = (served.clone(), counted.clone());
            async move {
                *counted.lock().unwrap() += 1;
                Json(json!({ "keys": *served.lock().unwrap() }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Pool {
        issuer,
        keys,
        fetches,
    }
}

fn token(key: &SigningKey, issuer: &str, sub: &str, groups: &[&str], token_use: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    key.sign(&Claims {
        sub: sub.into(),
        iss: issuer.into(),
        client_id: Some(CLIENT_ID.into()),
        token_use: token_use.into(),
        exp: now + 600,
        iat: now,
        jti: format!("{sub}-{now}"),
        cognito_username: Some(format!("{sub}-name")),
        cognito_groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        ..Claims::default()
    })
    .unwrap()
}

#[tokio::test]
async fn tokens_of_a_trusted_pool_are_accepted_with_key_rotation() {
    let pool = serve_pool().await;
    let first = SigningKey::from_seed(&[1; 32]).unwrap();
    pool.keys
        .lock()
        .unwrap()
        .push(serde_json::to_value(first.jwk()).unwrap());
    let issuer = pool.issuer.clone();
    let app = TestApp::spawn_with(false, |config| {
        config.auth.external.push(ExternalIssuer {
            issuer: issuer.clone(),
            jwks_url: format!("{issuer}/.well-known/jwks.json"),
            client_id: CLIENT_ID.into(),
            admin_group: "admin".into(),
        });
    })
    .await;

    let me = |token: String| {
        let url = app.url("/v1/me");
        async move { bearer_client(&token).get(url).send().await.unwrap() }
    };
    let response = me(token(&first, &pool.issuer, "ext-user", &[], "access")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["userId"], "ext-user");
    assert_eq!(body["username"], "ext-user-name");
    assert_eq!(
        (body["admin"].as_bool(), body["authenticatedWith"].as_str()),
        (Some(false), Some("external-token"))
    );
    let admin: Value = me(token(
        &first,
        &pool.issuer,
        "ext-admin",
        &["admin"],
        "access",
    ))
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(admin["admin"], true);
    assert_eq!(
        *pool.fetches.lock().unwrap(),
        1,
        "cached after the first fetch"
    );

    // ID tokens, other clients' and other issuers' tokens are refused.
    let id = me(token(&first, &pool.issuer, "ext-user", &[], "id")).await;
    assert_eq!(
        error_code(id, StatusCode::UNAUTHORIZED).await,
        "invalid-token"
    );
    let stranger = me(token(
        &first,
        "http://other-pool.test",
        "ext-user",
        &[],
        "access",
    ))
    .await;
    assert_eq!(
        error_code(stranger, StatusCode::UNAUTHORIZED).await,
        "invalid-token"
    );

    // The pool rotates to a new key: Easel refetches on the unknown kid.
    let second = SigningKey::from_seed(&[2; 32]).unwrap();
    pool.keys
        .lock()
        .unwrap()
        .push(serde_json::to_value(second.jwk()).unwrap());
    let rotated = me(token(&second, &pool.issuer, "ext-user", &[], "access")).await;
    assert_eq!(rotated.status(), StatusCode::OK);
    assert_eq!(*pool.fetches.lock().unwrap(), 2);

    // A key the pool never published is refused, and forged kids do not make Easel
    // fetch again right away.
    let rogue = SigningKey::from_seed(&[3; 32]).unwrap();
    let forged = me(token(
        &rogue,
        &pool.issuer,
        "ext-user",
        &["admin"],
        "access",
    ))
    .await;
    assert_eq!(
        error_code(forged, StatusCode::UNAUTHORIZED).await,
        "invalid-token"
    );
    let forged = me(token(
        &rogue,
        &pool.issuer,
        "ext-user",
        &["admin"],
        "access",
    ))
    .await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        *pool.fetches.lock().unwrap(),
        2,
        "the refetch is rate limited"
    );

    // Ownership applies to external principals like to local ones.
    let theirs = bearer_client(&token(&first, &pool.issuer, "ext-user", &[], "access"));
    let key = app
        .upload("a.png", "image/png", crate::helpers::png(4, 4))
        .await;
    let other = theirs
        .get(app.url(&format!("/v1/objects/uploads/{key}")))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}

/// Runs `easel user …` on the test server's data directory with a configuration file.
fn easel_user(app: &TestApp, config: &str, args: &[&str]) -> std::process::Output {
    let file = app.dir.path().join("cli.toml");
    std::fs::write(&file, config).unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_easel"));
    command
        .env_remove("EASEL_CONFIG")
        .env_remove("RUST_LOG")
        .args(["user", "--config"])
        .arg(&file)
        .arg("--data-dir")
        .arg(&app.config.storage.data_dir);
    if let Some(url) = &app.config.storage.database_url {
        command.args(["--database-url", url]);
    }
    command.args(args).output().unwrap()
}

#[tokio::test]
async fn an_administrator_assigns_a_plan_to_an_external_principal() {
    let pool = serve_pool().await;
    let key = SigningKey::from_seed(&[4; 32]).unwrap();
    pool.keys
        .lock()
        .unwrap()
        .push(serde_json::to_value(key.jwk()).unwrap());
    let issuer = pool.issuer.clone();
    let gold = Plan {
        rate_per_sec: 1_000.0,
        burst: 1_000,
        quotas: BTreeMap::from([(
            OpClass::Process,
            QuotaLimits {
                day: Some(1),
                ..QuotaLimits::default()
            },
        )]),
    };
    let app = TestApp::spawn_with(false, |config| {
        config.auth.external.push(ExternalIssuer {
            issuer: issuer.clone(),
            jwks_url: format!("{issuer}/.well-known/jwks.json"),
            client_id: CLIENT_ID.into(),
            admin_group: "admin".into(),
        });
        config.plans.insert("gold".into(), gold);
    })
    .await;
    let cli_config =
        "[plans.gold]\nrate_per_sec = 1000.0\nburst = 1000\nquotas.process = { day = 1 }\n";
    let client = bearer_client(&token(&key, &pool.issuer, "ext-sub-7", &[], "access"));

    // Before Easel has seen them, the principal cannot be given a plan.
    let early = easel_user(
        &app,
        cli_config,
        &["set-plan", "--external", "ext-sub-7", "gold"],
    );
    assert!(!early.status.success());
    assert!(String::from_utf8_lossy(&early.stderr).contains("has signed in yet"));

    // First sight records them, on the default plan.
    let me: Value = client
        .get(app.url("/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["plan"]["name"], "default", "{me}");
    let listed = easel_user(&app, cli_config, &["list"]);
    let listed = String::from_utf8(listed.stdout).unwrap();
    let line = listed
        .lines()
        .find(|l| l.starts_with("ext-sub-7"))
        .unwrap_or_else(|| panic!("the external principal is listed: {listed}"));
    assert!(
        line.contains("ext-sub-7-name") && line.contains(&pool.issuer),
        "{line}"
    );

    // The administrator assigns `gold`; it applies at once, quota included.
    let set = easel_user(
        &app,
        cli_config,
        &["set-plan", "--external", "ext-sub-7", "gold"],
    );
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let me: Value = client
        .get(app.url("/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["plan"]["name"], "gold", "{me}");
    assert_eq!(me["quotas"]["process"]["day"]["limit"], 1, "{me}");
    let noop = json!({ "kind": "noop" });
    let first = client
        .post(app.url("/v1/jobs"))
        .json(&noop)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let second = client
        .post(app.url("/v1/jobs"))
        .json(&noop)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(second, StatusCode::TOO_MANY_REQUESTS).await,
        "quota-exceeded",
        "the plan's quota counts for the external principal"
    );

    // Back to the default plan.
    let reset = easel_user(
        &app,
        cli_config,
        &["set-plan", "--external", "ext-sub-7", "--default"],
    );
    assert!(reset.status.success());
    let me: Value = client
        .get(app.url("/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["plan"]["name"], "default", "{me}");
}
