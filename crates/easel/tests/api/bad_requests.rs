//! A table of bad requests, each mapped to its status and stable code. None may answer
//! 5xx, and every answer has the one error shape.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, error_code, png};

struct Case {
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: StatusCode,
    code: &'static str,
}

fn json_case(
    method: Method,
    path: &str,
    body: serde_json::Value,
    status: StatusCode,
    code: &'static str,
) -> Case {
    Case {
        method,
        path: path.to_owned(),
        content_type: Some("application/json"),
        headers: vec![],
        body: body.to_string().into_bytes(),
        status,
        code,
    }
}

fn raw_case(
    method: Method,
    path: &str,
    body: &[u8],
    content_type: Option<&'static str>,
    status: StatusCode,
    code: &'static str,
) -> Case {
    Case {
        method,
        path: path.to_owned(),
        content_type,
        headers: vec![],
        body: body.to_vec(),
        status,
        code,
    }
}

#[tokio::test]
async fn every_bad_request_gets_its_status_and_code() {
    let app = TestApp::spawn_without_workers().await;
    let key = app.upload("a.png", "image/png", png(16, 16)).await;
    let done = app.create_job(&json!({ "kind": "noop" })).await;
    app.run_pending_jobs().await;
    let done_id = done["jobId"].as_str().unwrap();
    let missing_id = "01900000-0000-7000-8000-000000000000";
    use Method as M;
    use StatusCode as S;
    let many: Vec<String> = (0..101).map(|_| key.clone()).collect();
    let mut cases = vec![
        raw_case(
            M::POST,
            "/v1/jobs",
            b"{\"sources\": [",
            Some("application/json"),
            S::BAD_REQUEST,
            "malformed-json",
        ),
        raw_case(
            M::POST,
            "/v1/jobs",
            b"{}",
            None,
            S::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        ),
        raw_case(
            M::POST,
            "/v1/jobs",
            b"{}",
            Some("text/plain"),
            S::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        ),
        json_case(
            M::POST,
            "/v1/jobs",
            json!({ "sources": 5, "preset": "web" }),
            S::BAD_REQUEST,
            "invalid-request",
        ),
        json_case(
            M::POST,
            "/v1/jobs",
            json!({ "sources": [key], "preset": "web", "colour": 1 }),
            S::BAD_REQUEST,
            "invalid-request",
        ),
        json_case(
            M::POST,
            "/v1/jobs",
            json!({ "kind": "paint", "sources": [key] }),
            S::BAD_REQUEST,
            "invalid-request",
        ),
        json_case(
            M::POST,
            "/v1/jobs",
            json!({ "sources": [key], "pipeline": { "ops": [{ "op": "explode" }] } }),
            S::BAD_REQUEST,
            "invalid-pipeline",
        ),
        json_case(
            M::POST,
            "/v1/jobs",
            json!({ "sources": [key], "pipeline": { "ops": [{ "op": "resize", "width": "wide" }] } }),
            S::BAD_REQUEST,
            "invalid-pipeline",
        ),
        json_case(
            M::POST,
            "/v1/jobs",
            json!({ "sources": [key], "preset": "web", "pipeline": {} }),
            S::BAD_REQUEST,
            "invalid-request",
        ),
        json_case(
            M::POST,
            "/v1/jobs",
            json!({ "sources": [key] }),
            S::BAD_REQUEST,
            "missing-pipeline",
        ),
        json_case(
            M::POST,
            "/v1/jobs",
            json!({ "sources": [key], "preset": "nope" }),
            S::BAD_REQUEST,
            "unknown-preset",
        ),
        json_case(
            M::POST,
            "/v1/jobs",
            json!({ "sources": [], "preset": "web" }),
            S::BAD_REQUEST,
            "invalid-sources",
        ),
        json_case(
            M::POST,
            "/v1/jobs",
            json!({ "sources": many, "preset": "web" }),
            S::BAD_REQUEST,
            "invalid-sources",
        ),
        json_case(
            M::POST,
            "/v1/jobs",
            json!({ "sources": ["uploads/../../easel.db"], "preset": "web" }),
            S::BAD_REQUEST,
            "invalid-source",
        ),
        json_case(
            M::POST,
            "/v1/jobs",
            json!({ "sources": ["/etc/passwd"], "preset": "web" }),
            S::BAD_REQUEST,
            "invalid-source",
        ),
        json_case(
            M::POST,
            "/v1/jobs",
            json!({ "sources": ["uploads\\..\\x"], "preset": "web" }),
            S::BAD_REQUEST,
            "invalid-source",
        ),
        json_case(
            M::POST,
            "/v1/jobs",
            json!({ "sources": ["s3://elsewhere/a.jpg"], "preset": "web" }),
            S::BAD_REQUEST,
            "invalid-source",
        ),
        json_case(
            M::POST,
            "/v1/jobs",
            json!({ "sources": ["uploads/none.jpg"], "preset": "web" }),
            S::NOT_FOUND,
            "object-not-found",
        ),
        json_case(
            M::POST,
            "/v1/jobs",
            json!({ "kind": "noop", "sources": [key] }),
            S::BAD_REQUEST,
            "invalid-request",
        ),
        json_case(
            M::POST,
            "/process",
            json!({ "imageUrls": ["s3://uploads/uploads/none.jpg"] }),
            S::NOT_FOUND,
            "object-not-found",
        ),
        json_case(
            M::POST,
            "/process",
            json!({ "imageUrls": "s3://uploads/x" }),
            S::BAD_REQUEST,
            "invalid-request",
        ),
        json_case(
            M::POST,
            "/v1/uploads",
            json!({ "filename": "a.html", "contentType": "text/html" }),
            S::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-content-type",
        ),
        json_case(
            M::POST,
            "/v1/uploads",
            json!({ "filename": "a.jpg", "contentType": "image/jpeg", "folder": "../up" }),
            S::BAD_REQUEST,
            "invalid-folder",
        ),
        json_case(
            M::POST,
            "/v1/uploads",
            json!({ "filename": "a.jpg", "contentType": "image/jpeg", "size": 1_000_000_000_000u64 }),
            S::PAYLOAD_TOO_LARGE,
            "payload-too-large",
        ),
        json_case(
            M::POST,
            "/v1/uploads",
            json!({ "filename": "a.jpg" }),
            S::BAD_REQUEST,
            "invalid-request",
        ),
        json_case(
            M::POST,
            "/uploads/presign",
            json!({ "filename": 7, "contentType": "image/jpeg" }),
            S::BAD_REQUEST,
            "invalid-request",
        ),
        raw_case(
            M::GET,
            "/v1/jobs/not-a-job",
            b"",
            None,
            S::NOT_FOUND,
            "job-not-found",
        ),
        raw_case(
            M::GET,
            &format!("/v1/jobs/{missing_id}"),
            b"",
            None,
            S::NOT_FOUND,
            "job-not-found",
        ),
        raw_case(
            M::GET,
            &format!("/jobs/{missing_id}"),
            b"",
            None,
            S::NOT_FOUND,
            "job-not-found",
        ),
        raw_case(
            M::GET,
            &format!("/v1/jobs/{missing_id}/events"),
            b"",
            None,
            S::NOT_FOUND,
            "job-not-found",
        ),
        raw_case(
            M::DELETE,
            &format!("/v1/jobs/{missing_id}"),
            b"",
            None,
            S::NOT_FOUND,
            "job-not-found",
        ),
        raw_case(
            M::DELETE,
            &format!("/v1/jobs/{done_id}"),
            b"",
            None,
            S::CONFLICT,
            "job-not-cancellable",
        ),
        raw_case(
            M::GET,
            "/v1/jobs?limit=0",
            b"",
            None,
            S::BAD_REQUEST,
            "invalid-query",
        ),
        raw_case(
            M::GET,
            "/v1/jobs?limit=many",
            b"",
            None,
            S::BAD_REQUEST,
            "invalid-query",
        ),
        raw_case(
            M::GET,
            "/v1/jobs?status=DONE",
            b"",
            None,
            S::BAD_REQUEST,
            "invalid-query",
        ),
        raw_case(
            M::GET,
            "/v1/jobs?cursor=zzz",
            b"",
            None,
            S::BAD_REQUEST,
            "invalid-query",
        ),
        raw_case(
            M::GET,
            "/v1/jobs?sort=asc",
            b"",
            None,
            S::BAD_REQUEST,
            "invalid-query",
        ),
        raw_case(
            M::GET,
            "/o/uploads/a.jpg",
            b"",
            None,
            S::FORBIDDEN,
            "url-malformed",
        ),
        raw_case(
            M::GET,
            "/nowhere",
            b"",
            None,
            S::NOT_FOUND,
            "route-not-found",
        ),
        raw_case(
            M::PATCH,
            "/v1/jobs",
            b"",
            None,
            S::METHOD_NOT_ALLOWED,
            "method-not-allowed",
        ),
    ];
    let mut oversize = json_case(
        M::POST,
        "/v1/jobs",
        json!({}),
        S::PAYLOAD_TOO_LARGE,
        "payload-too-large",
    );
    oversize.body = format!("{{\"metadata\": \"{}\"}}", "x".repeat(2 << 20)).into_bytes();
    cases.push(oversize);
    let mut bad_key = json_case(
        M::POST,
        "/v1/jobs",
        json!({ "kind": "noop" }),
        S::BAD_REQUEST,
        "invalid-idempotency-key",
    );
    bad_key.headers.push(("idempotency-key", "k".repeat(300)));
    cases.push(bad_key);

    for case in cases {
        let mut request = app
            .client
            .request(case.method.clone(), app.url(&case.path))
            .body(case.body);
        if let Some(content_type) = case.content_type {
            request = request.header("content-type", content_type);
        }
        for (name, value) in case.headers {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        let what = format!("{} {}", case.method, case.path);
        assert_eq!(response.status(), case.status, "{what}");
        assert_eq!(error_code(response, case.status).await, case.code, "{what}");
    }
}
