//! Webhooks through the real server to a real receiver on a port of its own: the
//! receiver answers 500 once, then 204; it sees the retry, both signed with the caller's
//! secret the Standard Webhooks way (checked here with an HMAC of its own), and the
//! job's delivery log shows both attempts. A failed job's webhook says why. Callback
//! URLs on private addresses are refused unless the deployment allows them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, inpainting, png};

/// What the receiver got: the three webhook headers and the body, per request.
type Received = Arc<Mutex<Vec<(String, String, String, Bytes)>>>;

/// A receiver that fails the first `failures` requests with 500.
async fn receiver(failures: usize) -> (String, Received) {
    let received: Received = Arc::default();
    let seen = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let seen = seen.clone();
            async move {
                let header = |name: &str| headers[name].to_str().unwrap().to_owned();
                let mut seen = seen.lock().unwrap();
                seen.push((
                    header("webhook-id"),
                    header("webhook-timestamp"),
                    header("webhook-signature"),
                    body,
                ));
                if seen.len() <= failures {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

async fn wait_for(received: &Received, count: usize) {
    for _ in 0..200 {
        if received.lock().unwrap().len() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the receiver got {} requests, not {count}",
        received.lock().unwrap().len()
    );
}

/// Verifies a delivery as a receiver would, without Easel's code.
fn verify(secret: &str, (id, timestamp, signature, body): &(String, String, String, Bytes)) {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    assert_eq!(signature, &expected, "signature of delivery {id}");
    let age = easel_core::now_millis() / 1000 - timestamp.parse::<i64>().unwrap();
    assert!((0..60).contains(&age), "timestamp {timestamp}");
}

#[tokio::test]
async fn a_webhook_is_signed_retried_after_a_500_and_logged() {
    let app = TestApp::spawn_with(true, |config| {
        config.webhooks.allow_private = true;
    })
    .await;
    let secret: Value = app.get("/v1/me/webhook-secret").await.json().await.unwrap();
    let secret = secret["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let (url, received) = receiver(1).await;
    let key = app.upload("a.png", "image/png", png(40, 30)).await;
    let job = app
        .create_job(
            &json!({ "sources": [key], "preset": "thumbnail", "callbackUrl": url,
                             "metadata": { "order": 7 } }),
        )
        .await;
    let id = job["jobId"].as_str().unwrap().to_owned();
    assert_eq!(app.wait_for_job(&id).await["status"], "COMPLETED");
    wait_for(&received, 2).await;
    let received = received.lock().unwrap().clone();
    assert_eq!(received[0].0, received[1].0, "a retry keeps its webhook-id");
    for delivery in &received {
        verify(&secret, delivery);
    }
    let body: Value = serde_json::from_slice(&received[1].3).unwrap();
    assert_eq!(body["type"], "job.completed");
    assert_eq!(body["data"]["jobId"], id.as_str());
    assert_eq!(body["data"]["status"], "COMPLETED");
    assert_eq!(body["data"]["metadata"]["order"], 7);
    assert_eq!(
        body["data"]["results"][0]["output"]["format"], "webp",
        "{body}"
    );

    let log: Value = app
        .get(&format!("/v1/jobs/{id}/deliveries"))
        .await
        .json()
        .await
        .unwrap();
    let log = log["deliveries"].as_array().unwrap().clone();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(
        (log[0]["attempt"].clone(), log[0]["status"].clone()),
        (json!(1), json!(500))
    );
    assert!(log[0]["error"].as_str().unwrap().contains("500"));
    assert_eq!(
        (log[1]["attempt"].clone(), log[1]["status"].clone()),
        (json!(2), json!(204))
    );
    assert!(log[1]["error"].is_null());
    assert_eq!(log[1]["deliveryId"], received[0].0.as_str());

    // Another user cannot read the log.
    let other = app.new_user("someone-else@example.com").await;
    let response = other
        .client
        .get(app.url(&format!("/v1/jobs/{id}/deliveries")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_failed_job_announces_why() {
    let app = TestApp::spawn_with(true, |config| {
        config.webhooks.allow_private = true;
    })
    .await;
    let (url, received) = receiver(0).await;
    let mut truncated = png(64, 64);
    truncated.truncate(60);
    let bad = app.upload("bad.png", "image/png", truncated).await;
    let job = app
        .create_job(&json!({ "sources": [bad], "preset": "thumbnail", "callbackUrl": url }))
        .await;
    let id = job["jobId"].as_str().unwrap().to_owned();
    assert_eq!(app.wait_for_job(&id).await["status"], "FAILED");
    wait_for(&received, 1).await;
    let body: Value = serde_json::from_slice(&received.lock().unwrap()[0].3).unwrap();
    assert_eq!(body["type"], "job.failed");
    assert_eq!(body["data"]["status"], "FAILED");
    assert!(
        body["data"]["errorCode"].as_str().unwrap().len() > 3,
        "{body}"
    );
    assert!(
        body["data"]["error"]
            .as_str()
            .unwrap()
            .starts_with("every image failed")
    );
}

/// Cancelling a job with a callback announces it too.
#[tokio::test]
async fn a_cancelled_job_announces_it() {
    let app = TestApp::spawn_with(false, |config| {
        config.webhooks.allow_private = true;
    })
    .await;
    let (url, received) = receiver(0).await;
    let key = app.upload("a.png", "image/png", png(40, 30)).await;
    let job = app
        .create_job(&json!({ "sources": [key], "preset": "thumbnail", "callbackUrl": url }))
        .await;
    let id = job["jobId"].as_str().unwrap().to_owned();
    let response = app
        .client
        .delete(app.url(&format!("/v1/jobs/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.run_pending_jobs().await, 1, "the webhook job runs");
    wait_for(&received, 1).await;
    let body: Value = serde_json::from_slice(&received.lock().unwrap()[0].3).unwrap();
    assert_eq!(body["type"], "job.cancelled");
    assert_eq!(body["data"]["jobId"], id.as_str());
    assert_eq!(body["data"]["status"], "CANCELLED");
}

/// A generation's webhook carries its images; a bad callback URL is refused in the
/// native dialect's terms before anything runs.
#[tokio::test]
async fn a_generation_announces_its_end() {
    let app = TestApp::spawn_with(true, |config| {
        config.webhooks.allow_private = true;
    })
    .await;
    let (url, received) = receiver(0).await;
    let mut body = inpainting("a lighthouse");
    body["callbackUrl"] = json!(url);

    let response = app.post_json("/v1/generations?wait=60", &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let entry: Value = response.json().await.unwrap();
    wait_for(&received, 1).await;
    let sent: Value = serde_json::from_slice(&received.lock().unwrap()[0].3).unwrap();
    assert_eq!(sent["type"], "job.completed");
    assert_eq!(sent["data"]["jobId"], entry["id"]);
    assert_eq!(sent["data"]["kind"], "generate");
    assert_eq!(sent["data"]["results"][0]["output"]["width"], 64);

    let mut bad = body.clone();
    bad["callbackUrl"] = json!("gopher://example.com/");
    let response = app.post_json("/v1/generations", &bad).await;
    assert_eq!(
        error_code(response, StatusCode::BAD_REQUEST).await,
        "invalid-callback-url"
    );
}

#[tokio::test]
async fn callback_urls_on_private_addresses_are_refused_by_default() {
    let app = TestApp::spawn().await;
    let key = app.upload("a.png", "image/png", png(40, 30)).await;
    for url in [
        "http://127.0.0.1:9000/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.7/hook",
        "http://[::1]/hook",
        "http://localhost/hook",
        "ftp://example.com/hook",
    ] {
        let response = app
            .post_json(
                "/v1/jobs",
                &json!({ "sources": [key], "preset": "thumbnail", "callbackUrl": url }),
            )
            .await;
        assert_eq!(
            error_code(response, StatusCode::BAD_REQUEST).await,
            "invalid-callback-url",
            "{url}"
        );
    }
}
