//! What the submission services promise on every route that uses them: quotas count
//! accepted work only (not refused requests, not idempotent replays), one rule for
//! `Idempotency-Key`, the configured image limits on the OpenAI-compatible routes, and
//! one credential rule (every credential sent must be valid, and failures are audited)
//! whatever the dialect.

use std::io::Cursor;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use easel::config::Config;
use reqwest::header::HeaderValue;
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, png};

const BEDROCK_INVOKE: &str = "/model/amazon.titan-image-generator-v2%3A0/invoke";

/// Makes `metered` (generous rate, the given quotas) everyone's plan.
fn metered(quotas: Value) -> impl FnOnce(&mut Config) {
    move |config| {
        let plan = json!({ "rate_per_sec": 1_000.0, "burst": 1_000, "quotas": quotas });
        config
            .plans
            .insert("metered".into(), serde_json::from_value(plan).unwrap());
        config.auth.default_plan = "metered".into();
    }
}

/// `used` of the caller's `class` quota for today, from `GET /v1/me`.
async fn used_today(app: &TestApp, class: &str) -> Value {
    let me: Value = app.get("/v1/me").await.json().await.unwrap();
    me["quotas"][class]["day"]["used"].clone()
}

/// Asserts the status and the error code, naming `context` (and the body) on failure.
async fn expect_error(response: Response, status: StatusCode, code: &str, context: &str) {
    let actual = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(
        (actual, body["error"]["code"].as_str()),
        (status, Some(code)),
        "{context}: {body}"
    );
}

fn encode_png(image: impl Into<image::DynamicImage>) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image
        .into()
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

/// A valid native (Titan) inpainting request the `classic` engine takes.
fn inpainting_body() -> Value {
    let mask = image::RgbImage::from_fn(96, 64, |x, y| {
        let edit = (30..60).contains(&x) && (20..44).contains(&y);
        let v = if edit { 0 } else { 255 };
        image::Rgb([v, v, v])
    });
    json!({
        "taskType": "INPAINTING",
        "inPaintingParams": {
            "image": STANDARD.encode(png(96, 64)),
            "maskImage": STANDARD.encode(encode_png(mask)),
            "text": "remove it",
        },
        "imageGenerationConfig": { "numberOfImages": 1, "seed": 7 }
    })
}

/// A PNG with a small fully transparent square: a valid OpenAI edit without a mask.
fn png_with_hole(width: u32, height: u32) -> Vec<u8> {
    let (x0, y0) = (width / 3, height / 3);
    let image = image::RgbaImage::from_fn(width, height, |x, y| {
        let hole = (x0..x0 + 8).contains(&x) && (y0..y0 + 8).contains(&y);
        let alpha = if hole { 0 } else { 255 };
        image::Rgba([(x % 256) as u8, (y % 256) as u8, 128, alpha])
    });
    encode_png(image)
}

fn image_form(image: Vec<u8>) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .part(
            "image",
            reqwest::multipart::Part::bytes(image).file_name("image.png"),
        )
        .text("prompt", "remove it")
        .text("n", "1")
        .text("response_format", "b64_json")
}

/// A job over `key` with the `thumbnail` preset.
fn thumbnail_job(key: &str) -> Value {
    json!({ "sources": [{ "bucket": "uploads", "key": key }], "preset": "thumbnail" })
}

async fn upload_png(app: &TestApp) -> String {
    app.upload("photo.png", "image/png", png(64, 48)).await
}

fn retry_after(response: &Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn process_quota_counts_accepted_jobs_only() {
    let app = TestApp::spawn_with(false, metered(json!({ "process": { "day": 2 } }))).await;
    // Refused for a missing source, three times: 404 each, never 429.
    for attempt in 1..=3 {
        let missing = thumbnail_job(&format!("missing-{attempt}.png"));
        let response = app.post_json("/v1/jobs", &missing).await;
        expect_error(
            response,
            StatusCode::NOT_FOUND,
            "object-not-found",
            &format!("missing source, attempt {attempt}"),
        )
        .await;
    }
    // The seed route likewise.
    let seed = app
        .post_json(
            "/process",
            &json!({ "imageUrls": ["s3://uploads/none.png"] }),
        )
        .await;
    expect_error(
        seed,
        StatusCode::NOT_FOUND,
        "object-not-found",
        "seed route, missing source",
    )
    .await;
    assert_eq!(
        used_today(&app, "process").await,
        0,
        "refused requests are not charged"
    );

    // Two accepted jobs use the quota up; the third is refused for it.
    let key = upload_png(&app).await;
    for _ in 0..2 {
        app.create_job(&thumbnail_job(&key)).await;
    }
    let over = app.post_json("/v1/jobs", &thumbnail_job(&key)).await;
    assert!((1..=86_400).contains(&retry_after(&over)));
    assert_eq!(
        error_code(over, StatusCode::TOO_MANY_REQUESTS).await,
        "quota-exceeded"
    );
    assert_eq!(used_today(&app, "process").await, 2);
}

/// `POST /v1/jobs` with an `Idempotency-Key`.
async fn post_job_with_key(app: &TestApp, key: &str, body: &Value) -> Response {
    app.client
        .post(app.url("/v1/jobs"))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn idempotent_replays_answer_the_same_job_and_are_not_charged() {
    let app = TestApp::spawn_with(false, metered(json!({ "process": { "day": 2 } }))).await;
    let key = upload_png(&app).await;
    let body = thumbnail_job(&key);
    let first = post_job_with_key(&app, "k1", &body).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let job: Value = first.json().await.unwrap();
    for replay in 1..=3 {
        let again = post_job_with_key(&app, "k1", &body).await;
        assert_eq!(again.status(), StatusCode::ACCEPTED, "replay {replay}");
        assert_eq!(
            again.headers()["idempotent-replayed"],
            "true",
            "replay {replay}"
        );
        let replayed: Value = again.json().await.unwrap();
        assert_eq!(replayed["jobId"], job["jobId"], "replay {replay}");
    }
    assert_eq!(
        used_today(&app, "process").await,
        1,
        "only the first request is charged"
    );
    // The quota left is still there for new work.
    let other = app.create_job(&thumbnail_job(&key)).await;
    assert_ne!(other["jobId"], job["jobId"]);
    assert_eq!(used_today(&app, "process").await, 2);
}

#[tokio::test]
async fn a_reused_idempotency_key_with_another_body_is_refused_and_not_charged() {
    let app = TestApp::spawn_with(false, metered(json!({ "process": { "day": 2 } }))).await;
    let key = upload_png(&app).await;
    let first = post_job_with_key(&app, "k1", &thumbnail_job(&key)).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert_eq!(used_today(&app, "process").await, 1);
    let web = json!({ "sources": [{ "bucket": "uploads", "key": key }], "preset": "web" });
    let reused = post_job_with_key(&app, "k1", &web).await;
    assert_eq!(
        error_code(reused, StatusCode::CONFLICT).await,
        "idempotency-key-reused"
    );
    assert_eq!(
        used_today(&app, "process").await,
        1,
        "a refused reuse is not charged"
    );
    let second = post_job_with_key(&app, "k2", &web).await;
    assert_eq!(second.status(), StatusCode::ACCEPTED);
    assert_eq!(used_today(&app, "process").await, 2);
}

#[tokio::test]
async fn every_route_applies_one_idempotency_key_rule() {
    let app = TestApp::spawn_without_workers().await;
    let key = upload_png(&app).await;
    let job = thumbnail_job(&key);
    let seed = json!({ "imageUrls": [format!("s3://uploads/{key}")] });
    let generation = inpainting_body();
    let routes: [(&str, &Value); 3] = [
        ("/v1/jobs", &job),
        ("/process", &seed),
        ("/v1/generations", &generation),
    ];
    let invalid = [
        (
            "300 characters",
            HeaderValue::from_str(&"a".repeat(300)).unwrap(),
        ),
        (
            "256 characters",
            HeaderValue::from_str(&"a".repeat(256)).unwrap(),
        ),
        ("empty", HeaderValue::from_static("")),
        ("a space", HeaderValue::from_static("has space")),
        ("a tab", HeaderValue::from_static("tab\there")),
        (
            "non-ASCII bytes",
            HeaderValue::from_bytes("caf\u{e9}".as_bytes()).unwrap(),
        ),
    ];
    for (path, body) in routes {
        for (label, value) in &invalid {
            let response = app
                .client
                .post(app.url(path))
                .header("idempotency-key", value.clone())
                .json(body)
                .send()
                .await
                .unwrap();
            expect_error(
                response,
                StatusCode::BAD_REQUEST,
                "invalid-idempotency-key",
                &format!("{path} with a key of {label}"),
            )
            .await;
        }
        // The longest valid key: 255 visible ASCII characters.
        // The longest valid key (one per route: the routes share the jobs' keys).
        let longest = format!("{path}{}", "k".repeat(255 - path.len()));
        let response = app
            .client
            .post(app.url(path))
            .header("idempotency-key", longest)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(
            status,
            StatusCode::ACCEPTED,
            "{path}, 255 characters: {text}"
        );
    }
}

#[tokio::test]
async fn refused_generations_do_not_count_and_edits_count_as_edits() {
    let app = TestApp::spawn_with(
        false,
        metered(json!({ "generate": { "day": 1 }, "edit": { "day": 5 } })),
    )
    .await;
    let empty = json!({ "taskType": "TEXT_IMAGE", "textToImageParams": { "text": "" } });
    let response = app.post_json("/v1/generations", &empty).await;
    expect_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid-request",
        "an empty prompt",
    )
    .await;
    let mut styled = inpainting_body();
    styled["stylePreset"] = json!("vaporwave");
    let response = app.post_json("/v1/generations", &styled).await;
    expect_error(
        response,
        StatusCode::BAD_REQUEST,
        "unknown-style",
        "an unknown style",
    )
    .await;
    // Text to image: no engine here can run it (400 or 503, by build): not accepted.
    let t2i = json!({ "taskType": "TEXT_IMAGE", "textToImageParams": { "text": "a cat" } });
    let response = app.post_json("/v1/generations", &t2i).await;
    let status = response.status();
    assert!(
        status == StatusCode::BAD_REQUEST || status == StatusCode::SERVICE_UNAVAILABLE,
        "{status}: {}",
        response.text().await.unwrap()
    );
    assert_eq!(used_today(&app, "generate").await, 0);
    assert_eq!(used_today(&app, "edit").await, 0);

    // A valid edit counts against `edit` only, so the one generation is still there.
    for _ in 0..2 {
        let response = app.post_json("/v1/generations", &inpainting_body()).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    }
    assert_eq!(used_today(&app, "edit").await, 2);
    assert_eq!(used_today(&app, "generate").await, 0);
}

#[tokio::test]
async fn openai_image_routes_refuse_images_over_the_configured_pixel_limit() {
    // 40 000 pixels: far below the built-in 50 MP.
    let app = TestApp::spawn_with(true, |config| config.limits.max_pixels = 40_000).await;
    let post = |path: &str, image: Vec<u8>| {
        app.client
            .post(app.url(path))
            .multipart(image_form(image))
            .send()
    };
    for path in ["/v1/images/edits", "/v1/images/variations"] {
        // 400 × 300 = 120 000 pixels: over the configured limit.
        let response = post(path, png_with_hole(400, 300)).await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        let error = &body["error"];
        assert_eq!(error["type"], "invalid_request_error", "{path}: {body}");
        assert_eq!(error["param"], "image", "{path}: {body}");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains("40000"),
            "{path}: the message names the configured limit: {message}"
        );
    }
    // Within the limit the image is taken: the edit runs.
    let response = post("/v1/images/edits", png_with_hole(96, 64))
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    // A variation has no engine here, but the image is not what is refused.
    let response = post("/v1/images/variations", png_with_hole(96, 64))
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(
        !(status == StatusCode::BAD_REQUEST && body["error"]["param"] == "image"),
        "{status}: {body}"
    );
}

/// `POST /v1/keys`; returns the key's secret.
async fn create_api_key(app: &TestApp) -> String {
    let response = app.post_json("/v1/keys", &json!({ "name": "t" })).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    created["key"].as_str().unwrap().to_owned()
}

/// Sends `request` on the native, OpenAI and Bedrock routes and asserts each refuses it
/// in its own dialect.
async fn assert_refused_everywhere(app: &TestApp, with: impl Fn(RequestBuilder) -> RequestBuilder) {
    let client = reqwest::Client::new();
    let native = with(client.get(app.url("/v1/me"))).send().await.unwrap();
    expect_error(
        native,
        StatusCode::UNAUTHORIZED,
        "invalid-token",
        "GET /v1/me",
    )
    .await;

    let openai = with(client.post(app.url("/v1/images/generations")))
        .json(&json!({ "prompt": "a cat", "response_format": "b64_json" }))
        .send()
        .await
        .unwrap();
    let status = openai.status();
    let body: Value = openai.json().await.unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::UNAUTHORIZED, "OpenAI: {body}");
    assert_eq!(body["error"]["code"], "invalid_api_key", "OpenAI: {body}");
    assert_eq!(
        body["error"]["type"], "invalid_request_error",
        "OpenAI: {body}"
    );

    let bedrock = with(client.post(app.url(BEDROCK_INVOKE)))
        .json(&inpainting_body())
        .send()
        .await
        .unwrap();
    let status = bedrock.status();
    let kind = bedrock
        .headers()
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = bedrock.json().await.unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::FORBIDDEN, "Bedrock: {kind} {body}");
    assert!(
        kind.starts_with("UnrecognizedClientException:")
            || kind.starts_with("MissingAuthenticationTokenException:"),
        "Bedrock: {kind} {body}"
    );
    assert!(body["message"].is_string(), "Bedrock: {body}");
}

#[tokio::test]
async fn an_invalid_bearer_token_is_refused_even_beside_a_valid_api_key() {
    // Workers run, so a wrongly accepted Bedrock call answers at once.
    let app = TestApp::spawn().await;
    let key = create_api_key(&app).await;
    let alone = app
        .anonymous()
        .get(app.url("/v1/me"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        alone.status(),
        StatusCode::OK,
        "a valid API key alone works"
    );
    let me: Value = alone.json().await.unwrap();
    assert_eq!(me["userId"], app.user.user_id.as_str());
    assert_refused_everywhere(&app, |request| {
        request
            .header("x-api-key", &key)
            .header("authorization", "Bearer garbage")
    })
    .await;
}

#[tokio::test]
async fn an_invalid_api_key_is_refused_even_beside_a_valid_bearer_token() {
    let app = TestApp::spawn().await;
    let token = app.user.access_token.clone();
    assert_refused_everywhere(&app, |request| {
        request
            .header("authorization", format!("Bearer {token}"))
            .header("x-api-key", "ek_invalid0000000000000000000000")
    })
    .await;
}

/// The `authentication-failed` events of the audit log, read by the admin.
async fn authentication_failures(app: &TestApp) -> Vec<Value> {
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
    events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "authentication-failed")
        .cloned()
        .collect()
}

#[tokio::test]
async fn openai_routes_audit_failed_authentication_like_native_routes() {
    let app = TestApp::spawn_without_workers().await;
    assert_eq!(authentication_failures(&app).await, Vec::<Value>::new());
    let invalid = "Bearer ek_invalid0000000000000000000000";
    let response = app
        .anonymous()
        .post(app.url("/v1/images/generations"))
        .header("authorization", invalid)
        .json(&json!({ "prompt": "a cat" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_api_key", "{body}");
    let failures = authentication_failures(&app).await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["ip"], "127.0.0.1", "{failures:?}");

    let response = app
        .anonymous()
        .post(app.url("/v1/images/edits"))
        .header("authorization", invalid)
        .multipart(image_form(png_with_hole(96, 64)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(authentication_failures(&app).await.len(), 2);
}
