//! The jobs API: idempotency, cancellation, listing and paging, per-image failures.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, png};

#[tokio::test]
async fn idempotency_key_replays_or_conflicts() {
    let app = TestApp::spawn_without_workers().await;
    let key = app.upload("a.png", "image/png", png(20, 20)).await;
    let body = json!({ "sources": [key], "preset": "thumbnail" });
    let send = |body: Value, idem: &'static str| {
        app.client
            .post(app.url("/v1/jobs"))
            .header("idempotency-key", idem)
            .json(&body)
            .send()
    };
    let first = send(body.clone(), "order-1").await.unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = send(body.clone(), "order-1").await.unwrap();
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["jobId"], first["jobId"]);
    let other = send(json!({ "sources": [key], "preset": "web" }), "order-1")
        .await
        .unwrap();
    assert_eq!(
        error_code(other, StatusCode::CONFLICT).await,
        "idempotency-key-reused"
    );
    let fresh: Value = send(body, "order-2").await.unwrap().json().await.unwrap();
    assert_ne!(fresh["jobId"], first["jobId"]);
    assert_eq!(app.run_pending_jobs().await, 2, "the replay created no job");
}

#[tokio::test]
async fn cancel_only_pending_jobs() {
    let app = TestApp::spawn_without_workers().await;
    let key = app.upload("a.png", "image/png", png(20, 20)).await;
    let job = app
        .create_job(&json!({ "sources": [key], "preset": "thumbnail" }))
        .await;
    let id = job["jobId"].as_str().unwrap();
    let response = app
        .client
        .delete(app.url(&format!("/v1/jobs/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cancelled: Value = response.json().await.unwrap();
    assert_eq!(cancelled["status"], "CANCELLED");
    assert_eq!(
        app.run_pending_jobs().await,
        0,
        "a cancelled job never runs"
    );
    let response = app
        .client
        .delete(app.url(&format!("/v1/jobs/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response, StatusCode::CONFLICT).await,
        "job-not-cancellable"
    );
}

#[tokio::test]
async fn list_filters_and_pages_newest_first() {
    let app = TestApp::spawn_without_workers().await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let job = app.create_job(&json!({ "kind": "noop" })).await;
        ids.push(job["jobId"].as_str().unwrap().to_owned());
    }
    let response = app
        .client
        .delete(app.url(&format!("/v1/jobs/{}", ids[0])))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let page: Value = app.get("/v1/jobs?limit=2").await.json().await.unwrap();
    let listed: Vec<&str> = page["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["jobId"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [ids[4].as_str(), ids[3].as_str()]);
    let cursor = page["nextCursor"].as_str().unwrap();
    let page2: Value = app
        .get(&format!("/v1/jobs?limit=2&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    let listed: Vec<&str> = page2["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["jobId"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [ids[2].as_str(), ids[1].as_str()]);
    let page3: Value = app
        .get(&format!(
            "/v1/jobs?limit=2&cursor={}",
            page2["nextCursor"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page3["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(page3["nextCursor"], Value::Null);

    let cancelled: Value = app
        .get("/v1/jobs?status=CANCELLED")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(cancelled["jobs"][0]["jobId"], ids[0].as_str());
    let pending: Value = app
        .get("/v1/jobs?status=pending")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pending["jobs"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn a_corrupt_image_fails_alone_and_an_all_bad_job_fails_without_retry() {
    let app = TestApp::spawn_without_workers().await;
    let good = app.upload("good.png", "image/png", png(64, 64)).await;
    // A PNG whose header is fine but whose data is cut off.
    let mut truncated = png(64, 64);
    truncated.truncate(60);
    let bad = app.upload("bad.png", "image/png", truncated).await;

    let mixed = app
        .create_job(&json!({ "sources": [good, bad], "preset": "thumbnail" }))
        .await;
    let all_bad = app
        .create_job(&json!({ "sources": [bad], "preset": "thumbnail" }))
        .await;
    assert_eq!(app.run_pending_jobs().await, 2);

    let mixed = app.job(mixed["jobId"].as_str().unwrap()).await;
    assert_eq!(mixed["status"], "COMPLETED", "{mixed}");
    assert!(mixed["results"][0]["output"].is_object());
    assert!(mixed["results"][0]["error"].is_null());
    let failure = &mixed["results"][1]["error"];
    assert!(mixed["results"][1].get("output").is_none());
    assert!(!failure["code"].as_str().unwrap().is_empty(), "{failure}");
    assert!(!failure["message"].as_str().unwrap().is_empty());

    let all_bad = app.job(all_bad["jobId"].as_str().unwrap()).await;
    assert_eq!(all_bad["status"], "FAILED");
    assert_eq!(all_bad["attempts"], 1, "bad input is not retried");
    assert!(
        all_bad["error"]
            .as_str()
            .unwrap()
            .starts_with("every image failed")
    );
}

/// Event streams are capped per principal: past the cap the next one answers 429
/// `too-many-streams`; another principal is not affected; a stream the client closed
/// gives its slot back.
#[tokio::test]
async fn event_streams_are_capped_per_principal() {
    let app = TestApp::spawn_with(false, |config| {
        config.server.max_streams_per_principal = 2;
    })
    .await;
    let key = app.upload("a.png", "image/png", png(40, 30)).await;
    let job = app
        .create_job(&json!({ "sources": [key], "preset": "thumbnail" }))
        .await;
    let events = format!("/v1/jobs/{}/events", job["jobId"].as_str().unwrap());
    let first = app.get(&events).await;
    let second = app.get(&events).await;
    assert_eq!(
        (first.status(), second.status()),
        (StatusCode::OK, StatusCode::OK)
    );
    assert_eq!(
        error_code(app.get(&events).await, StatusCode::TOO_MANY_REQUESTS).await,
        "too-many-streams"
    );
    // Someone else streams their own job.
    let other = app.new_user("streamer@example.com").await;
    let upload = other
        .client
        .post(app.url("/v1/uploads"))
        .json(&json!({ "filename": "b.png", "contentType": "image/png" }))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let put = other
        .client
        .put(upload["url"].as_str().unwrap())
        .header("content-type", "image/png")
        .body(png(20, 20))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    let theirs: Value = other
        .client
        .post(app.url("/v1/jobs"))
        .json(&json!({ "sources": [upload["key"]], "preset": "thumbnail" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let response = other
        .client
        .get(app.url(&format!(
            "/v1/jobs/{}/events",
            theirs["jobId"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Closing one gives its slot back.
    drop(first);
    let mut reopened = false;
    for _ in 0..50 {
        let response = app.get(&events).await;
        if response.status() == StatusCode::OK {
            reopened = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(reopened, "the closed stream's slot was not given back");
    drop(second);
}
