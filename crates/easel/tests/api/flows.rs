//! End-to-end flows: presign → PUT → job → events/poll → download, on native and seed
//! routes, upload triggers, health and metrics.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, jpeg, png};

#[tokio::test]
async fn native_flow_processes_and_serves_the_output() {
    let app = TestApp::spawn().await;
    let key = app
        .upload("holiday photo.jpg", "image/jpeg", jpeg(640, 480))
        .await;
    assert!(key.starts_with("uploads/20"), "{key}");
    assert!(key.ends_with("-holiday-photo.jpg"), "{key}");

    let job = app
        .create_job(
            &json!({ "sources": [{ "bucket": "uploads", "key": key }], "preset": "thumbnail" }),
        )
        .await;
    assert_eq!(job["status"], "PENDING");
    let id = job["jobId"].as_str().unwrap();

    let done = app.wait_for_job(id).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["imageCount"], 1);
    assert_eq!(done["attempts"], 1);
    let output = &done["results"][0]["output"];
    assert_eq!(output["width"], 256);
    assert_eq!(output["height"], 256);
    assert_eq!(output["format"], "webp");
    assert_eq!(
        output["key"],
        format!(
            "outputs/{id}/0-{}.webp",
            key.rsplit('/').next().unwrap().trim_end_matches(".jpg")
        )
    );
    assert_eq!(done["results"][0]["detections"], json!([]));

    for link in ["downloadUrl", "downloadUrl24h"] {
        let response = app
            .client
            .get(output[link].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "image/webp");
        let bytes = response.bytes().await.unwrap();
        assert_eq!(bytes.len() as u64, output["bytes"].as_u64().unwrap());
        assert_eq!(&bytes[..4], b"RIFF");
        let decoded = image::load_from_memory(&bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (256, 256));
    }
    // The 24-hour link really lives longer than the 1-hour one.
    let expiry = |name: &str| {
        let url = output[name].as_str().unwrap();
        let value = url
            .split("X-Easel-Expires=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap();
        value.parse::<i64>().unwrap()
    };
    assert_eq!(
        expiry("downloadUrl24h") - expiry("downloadUrl"),
        86_400 - 3_600
    );
}

#[tokio::test]
async fn seed_routes_speak_the_seed_shapes() {
    let app = TestApp::spawn().await;
    let response = app
        .post_json(
            "/uploads/presign",
            &json!({ "filename": "car-damage.jpg", "contentType": "image/jpeg" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let presigned: Value = response.json().await.unwrap();
    let mut fields: Vec<&str> = presigned
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["bucket", "key", "url"]);
    let put = app
        .put(
            presigned["url"].as_str().unwrap(),
            "image/jpeg",
            jpeg(2000, 1000),
        )
        .await;
    assert_eq!(put.status(), StatusCode::OK);

    let s3 = format!(
        "s3://{}/{}",
        presigned["bucket"].as_str().unwrap(),
        presigned["key"].as_str().unwrap()
    );
    let response = app
        .post_json(
            "/process",
            &json!({ "imageUrls": [s3], "userId": "user123", "metadata": { "source": "mobile-app" } }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let submitted: Value = response.json().await.unwrap();
    assert_eq!(submitted["success"], true);
    assert_eq!(submitted["status"], "PENDING");
    assert_eq!(submitted["imageCount"], 1);
    assert_eq!(submitted["message"], "Job created for 1 image(s)");
    let id = submitted["jobId"].as_str().unwrap();

    let pending: Value = app.get(&format!("/jobs/{id}")).await.json().await.unwrap();
    assert!(pending["createdAt"].as_str().unwrap().ends_with('Z'));
    app.wait_for_job(id).await;
    let completed: Value = app.get(&format!("/jobs/{id}")).await.json().await.unwrap();
    assert_eq!(completed["status"], "COMPLETED");
    assert_eq!(completed["detections"][0]["imageUrl"], s3);
    assert_eq!(completed["detections"][0]["imageIndex"], 0);
    assert_eq!(completed["detections"][0]["detectionCount"], 0);
    // The seed preset is `web-detect`: fit 1600×1600, and with no detection model
    // installed no objects (and no refusal).
    assert_eq!(completed["results"][0]["output"]["width"], 1600);
    assert_eq!(completed["results"][0]["output"]["height"], 800);
    let native = app.job(id).await;
    assert_eq!(native["metadata"]["userId"], "user123");
    assert_eq!(native["metadata"]["metadata"]["source"], "mobile-app");
}

#[tokio::test]
async fn events_stream_reports_progress_until_completion() {
    let app = TestApp::spawn_without_workers().await;
    let keys = [
        app.upload("a.png", "image/png", png(300, 200)).await,
        app.upload("b.png", "image/png", png(200, 300)).await,
    ];
    let job = app
        .create_job(&json!({ "sources": keys, "preset": "thumbnail" }))
        .await;
    let id = job["jobId"].as_str().unwrap().to_owned();
    let follower = {
        let base = app.base.clone();
        let id = id.clone();
        let client = app.client.clone();
        tokio::spawn(async move {
            let response = client
                .get(format!("{base}/v1/jobs/{id}/events"))
                .send()
                .await
                .unwrap();
            response.text().await.unwrap()
        })
    };
    // Let the stream deliver the PENDING state before any worker runs.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(app.run_pending_jobs().await, 1);
    let text = tokio::time::timeout(std::time::Duration::from_secs(10), follower)
        .await
        .expect("the stream ends after the terminal state")
        .unwrap();
    let states: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(states.first().unwrap()["status"], "PENDING");
    assert_eq!(states.last().unwrap()["status"], "COMPLETED");
    assert_eq!(
        states.last().unwrap()["results"].as_array().unwrap().len(),
        2
    );
    assert!(text.contains("event: status"));
}

#[tokio::test]
async fn upload_trigger_processes_uploads_under_its_prefix() {
    let app = TestApp::spawn_with(true, |config| {
        config.triggers = vec![easel::config::TriggerConfig {
            prefix: "uploads/photos/".into(),
            preset: Some("web".into()),
            pipeline: None,
        }];
    })
    .await;
    let presign = |folder: &str| json!({ "filename": "beach.jpg", "contentType": "image/jpeg", "folder": folder });
    let inside: Value = app
        .post_json("/v1/uploads", &presign("photos"))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        inside["key"]
            .as_str()
            .unwrap()
            .starts_with("uploads/photos/")
    );
    let put: Value = app
        .put(
            inside["url"].as_str().unwrap(),
            "image/jpeg",
            jpeg(1800, 1200),
        )
        .await
        .json()
        .await
        .unwrap();
    let jobs = put["triggeredJobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1);
    let done = app.wait_for_job(jobs[0].as_str().unwrap()).await;
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(done["preset"], "web");
    let result = &done["results"][0];
    assert_eq!(result["source"]["key"], inside["key"]);
    assert_eq!(result["output"]["bucket"], "outputs");
    assert_eq!(
        (
            result["output"]["width"].as_u64(),
            result["output"]["height"].as_u64()
        ),
        (Some(1600), Some(1067))
    );

    let outside: Value = app
        .post_json("/v1/uploads", &presign("other"))
        .await
        .json()
        .await
        .unwrap();
    let put: Value = app
        .put(
            outside["url"].as_str().unwrap(),
            "image/jpeg",
            jpeg(100, 100),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(put["triggeredJobs"], json!([]));
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    let job = app.create_job(&json!({ "kind": "noop" })).await;
    app.wait_for_job(job["jobId"].as_str().unwrap()).await;
    let response = app.get("/metrics").await;
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains(r#"easel_http_requests_total{route="/v1/jobs",method="POST",status="2xx"}"#),
        "{text}"
    );
    assert!(text.contains("easel_http_request_duration_seconds_bucket"));
    let completed_line = text
        .lines()
        .find(|l| l.starts_with(r#"easel_jobs{status="COMPLETED"}"#))
        .expect("jobs gauge");
    assert!(completed_line.ends_with(" 1"), "{completed_line}");
    assert!(text.contains("easel_queue_depth 0"));
    assert!(text.contains("easel_job_duration_seconds_bucket"));
}
