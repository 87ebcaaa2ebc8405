//! `easel db copy`: a deployment moved from SQLite to PostgreSQL keeps working as it was
//! — the same accounts and passwords, API keys, issued tokens and presigned links, jobs
//! with their results — and a second run resumes without copying anything twice.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, bearer_client, png, sign_in};
use crate::postgres::TestDatabase;

fn copy(app: &TestApp, to: &str) -> std::process::Output {
    let from = format!("sqlite://{}", app.dir.path().join("easel.db").display());
    Command::new(env!("CARGO_BIN_EXE_easel"))
        .env_remove("RUST_LOG")
        .args(["db", "copy", "--from", &from, "--to", to])
        .output()
        .unwrap()
}

#[tokio::test]
async fn a_deployment_moved_to_postgresql_keeps_working() {
    // The source: SQLite, whatever backend the suite runs on.
    let app = TestApp::spawn_with(true, |config| config.storage.database_url = None).await;
    let key = app.upload("a.png", "image/png", png(64, 48)).await;
    let job = app
        .create_job(
            &json!({ "sources": [{ "bucket": "uploads", "key": key }], "preset": "thumbnail" }),
        )
        .await;
    let job = app.wait_for_job(job["jobId"].as_str().unwrap()).await;
    assert_eq!(job["status"], "COMPLETED");
    let download = job["results"][0]["output"]["downloadUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let created: Value = app
        .post_json("/v1/keys", &json!({ "name": "ci" }))
        .await
        .json()
        .await
        .unwrap();
    let api_key = created["key"].as_str().unwrap().to_owned();
    let token = app.user.access_token.clone();

    let database = TestDatabase::create();
    let first = copy(&app, &database.url());
    let report = String::from_utf8_lossy(&first.stderr).into_owned();
    assert!(first.status.success(), "{report}");
    assert!(report.contains("counts verified"), "{report}");
    // Resumed: nothing is copied twice.
    let again = copy(&app, &database.url());
    let report = String::from_utf8_lossy(&again.stderr).into_owned();
    assert!(again.status.success(), "{report}");
    assert!(
        report
            .lines()
            .filter(|l| l.contains("copied now"))
            .all(|l| l.trim_end().ends_with(" 0 copied now")),
        "{report}"
    );

    // The same deployment on PostgreSQL.
    let moved = app
        .sibling(|config| config.storage.database_url = Some(database.url()))
        .await;
    let me = bearer_client(&token)
        .get(moved.url("/v1/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        me.status(),
        StatusCode::OK,
        "tokens issued before still verify"
    );
    let me = reqwest::Client::new()
        .get(moved.url("/v1/me"))
        .header("x-api-key", &api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK, "API keys still work");
    sign_in(&moved.base, &app.user.username, PASSWORD).await;
    let seen = moved.job(job["jobId"].as_str().unwrap()).await;
    assert_eq!(seen["status"], "COMPLETED");
    assert_eq!(
        seen["results"][0]["output"]["key"],
        job["results"][0]["output"]["key"]
    );
    // A download link signed before the move, served by the new process.
    let base = download.split("/o/").next().unwrap();
    let moved_link = download.replacen(base, &moved.base, 1);
    let bytes = reqwest::get(&moved_link).await.unwrap();
    assert_eq!(bytes.status(), StatusCode::OK);
    // New work runs there too.
    let next = moved
        .create_job(&json!({ "sources": [{ "bucket": "uploads", "key": key }], "preset": "web" }))
        .await;
    let next = moved.wait_for_job(next["jobId"].as_str().unwrap()).await;
    assert_eq!(next["status"], "COMPLETED");
}

#[tokio::test]
async fn copy_refuses_anything_but_sqlite_to_postgresql() {
    let output = Command::new(env!("CARGO_BIN_EXE_easel"))
        .args([
            "db",
            "copy",
            "--from",
            "postgres://a@b/c",
            "--to",
            "sqlite://x.db",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("moves SQLite to PostgreSQL"), "{stderr}");
}
