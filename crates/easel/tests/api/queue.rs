//! Queue durability through the real server: restarts, dead workers, dead letters and
//! many jobs at once.

use std::time::Duration;

use easel::app::Stores;
use easel_store::Completion;
use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{TestApp, png};

#[tokio::test]
async fn jobs_queued_before_a_restart_all_complete_after_it() {
    let app = TestApp::spawn_without_workers().await;
    let key = app.upload("a.png", "image/png", png(40, 30)).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let job = app
            .create_job(&json!({ "sources": [key], "preset": "thumbnail" }))
            .await;
        ids.push(job["jobId"].as_str().unwrap().to_owned());
    }
    let app = app.restart(true).await;
    for id in &ids {
        let job = app.wait_for_job(id).await;
        assert_eq!(job["status"], "COMPLETED", "{job}");
        assert_eq!(job["attempts"], 1);
    }
}

#[tokio::test]
async fn a_job_whose_worker_stops_heartbeating_is_reclaimed() {
    let app = TestApp::spawn_without_workers().await;
    let key = app.upload("a.png", "image/png", png(40, 30)).await;
    let job = app
        .create_job(&json!({ "sources": [key], "preset": "thumbnail" }))
        .await;
    let id = job["jobId"].as_str().unwrap().to_owned();

    // A worker claims the job with a short lease, then dies without a heartbeat.
    let stores = Stores::open(&app.config).await.unwrap();
    let claim = stores
        .metadata
        .claim(Duration::from_millis(300), 1)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(claim.job.id.to_string(), id);
    assert_eq!(app.job(&id).await["status"], "RUNNING");
    assert_eq!(app.run_pending_jobs().await, 0, "the lease still hides it");

    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(app.run_pending_jobs().await, 1);
    let done = app.job(&id).await;
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(done["attempts"], 2);
    // The dead worker's late completion is refused.
    let late = Completion {
        lease: claim.lease,
        results: vec![],
    };
    assert_eq!(stores.metadata.complete(&[late]).await.unwrap(), [false]);
}

#[tokio::test]
async fn storage_failures_retry_then_leave_a_dead_job_with_its_error() {
    let app = TestApp::spawn().await;
    let key = app.upload("a.png", "image/png", png(40, 30)).await;
    // Make the outputs bucket unwritable (a file where its directory was): a storage
    // error, not bad input, so the job is retried until its attempts are used up.
    let outputs = app.dir.path().join("objects/outputs");
    std::fs::remove_dir_all(&outputs).unwrap();
    std::fs::write(&outputs, b"in the way").unwrap();
    let job = app
        .create_job(&json!({ "sources": [key], "preset": "thumbnail" }))
        .await;
    let done = app.wait_for_job(job["jobId"].as_str().unwrap()).await;
    assert_eq!(done["status"], "FAILED", "{done}");
    assert_eq!(done["attempts"], 3);
    assert!(
        done["error"].as_str().unwrap().contains("storage failed"),
        "{done}"
    );
    assert_eq!(done["errorCode"], "storage-failed", "{done}");
}

/// Dead letters, as SQS redrive handles them: an administrator lists the dead jobs by
/// error code and, once the cause is fixed, puts them back; they run again with fresh
/// attempts, and the redrive is audited. Others may not; an unnarrowed request is
/// refused unless it says `all`.
#[tokio::test]
async fn dead_jobs_are_listed_by_error_code_and_redriven_by_an_administrator() {
    let app = TestApp::spawn().await;
    let key = app.upload("a.png", "image/png", png(40, 30)).await;
    let outputs = app.dir.path().join("objects/outputs");
    std::fs::remove_dir_all(&outputs).unwrap();
    std::fs::write(&outputs, b"in the way").unwrap();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let job = app
            .create_job(&json!({ "sources": [key], "preset": "thumbnail" }))
            .await;
        let id = job["jobId"].as_str().unwrap().to_owned();
        assert_eq!(app.wait_for_job(&id).await["status"], "FAILED");
        ids.push(id);
    }
    let admin = app.admin().await;
    let get = |path: &str| admin.client.get(app.url(path)).send();
    let dead: Value = get("/v1/jobs?status=FAILED&errorCode=storage-failed")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed: Vec<&str> = dead["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["jobId"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![ids[1].as_str(), ids[0].as_str()], "{dead}");
    let other: Value = get("/v1/jobs?status=FAILED&errorCode=corrupt-image")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(other["jobs"], json!([]));

    // Not for the job's owner, who is no administrator.
    let response = app
        .post_json(
            "/v1/admin/jobs/redrive",
            &json!({ "errorCode": "storage-failed" }),
        )
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::FORBIDDEN);
    let redrive = |body: Value| {
        admin
            .client
            .post(app.url("/v1/admin/jobs/redrive"))
            .json(&body)
            .send()
    };
    let response = redrive(json!({})).await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);
    let response = redrive(json!({ "jobIds": ["nope"] })).await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);

    // The cause fixed, one job by id, then the rest by code.
    std::fs::remove_file(&outputs).unwrap();
    std::fs::create_dir_all(&outputs).unwrap();
    let moved: Value = redrive(json!({ "jobIds": [ids[0]] }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(moved, json!({ "redriven": 1, "jobIds": [ids[0]] }));
    let done = app.wait_for_job(&ids[0]).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["attempts"], 1);
    assert!(done["errorCode"].is_null());
    let moved: Value = redrive(json!({ "errorCode": "storage-failed", "kind": "process" }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(moved["redriven"], 1, "{moved}");
    assert_eq!(app.wait_for_job(&ids[1]).await["status"], "COMPLETED");
    let nothing: Value = redrive(json!({ "all": true }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(nothing["redriven"], 0);

    let events: Value = get("/v1/admin/audit?limit=100")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let redriven: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "jobs-redriven")
        .collect();
    assert_eq!(redriven.len(), 3, "{events}");
    assert!(
        redriven
            .iter()
            .any(|e| e["detail"].as_str().unwrap().contains(&ids[0])),
        "{redriven:?}"
    );
}

#[tokio::test]
async fn a_hundred_jobs_submitted_at_once_each_complete_exactly_once() {
    // One client follows all hundred jobs' event streams at once.
    let app = TestApp::spawn_with(true, |config| {
        config.server.max_streams_per_principal = 100;
    })
    .await;
    let key = app.upload("a.png", "image/png", png(32, 32)).await;
    let submissions = (0..100).map(|i| {
        let app = &app;
        let key = key.clone();
        async move {
            app.create_job(
                &json!({ "sources": [key], "preset": "thumbnail", "metadata": { "n": i } }),
            )
            .await["jobId"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    });
    let ids: Vec<String> = join_all(submissions).await;
    let finals: Vec<Value> = join_all(ids.iter().map(|id| app.wait_for_job(id))).await;
    for job in &finals {
        assert_eq!(job["status"], "COMPLETED", "{job}");
        assert_eq!(job["attempts"], 1, "claimed exactly once: {job}");
    }
    let mut outputs: Vec<&str> = finals
        .iter()
        .map(|j| j["results"][0]["output"]["key"].as_str().unwrap())
        .collect();
    outputs.sort_unstable();
    outputs.dedup();
    assert_eq!(outputs.len(), 100, "one output per job, none shared");
    let completed: Value = app
        .get("/v1/jobs?status=COMPLETED&limit=100")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(completed["jobs"].as_array().unwrap().len(), 100);
}
