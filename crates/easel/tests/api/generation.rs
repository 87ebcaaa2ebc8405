//! Generation and editing through every dialect, end to end on a real server with the
//! `classic` engine: the native route with `?wait`, history (list, get, delete with its
//! outputs, regenerate, retention sweep), the request log, moderation refusals in each
//! dialect's error shape, the Bedrock-compatible endpoint with an API key, the
//! OpenAI-compatible edits route (multipart, mask as alpha), the seeds' edit route,
//! quotas per class and ownership.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use easel_core::OpClass;
use easel_services::usage::{Plan, QuotaLimits};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, bearer_client, error_code};

/// A textured scene (diagonal stripes over a gradient) with a red object inside the
/// area the tests mask, so removing it must change those pixels.
fn scene(width: u32, height: u32) -> image::RgbaImage {
    image::RgbaImage::from_fn(width, height, |x, y| {
        if (35..55).contains(&x) && (25..40).contains(&y) {
            return image::Rgba([255, 0, 0, 255]);
        }
        let stripe = if (x + y) / 6 % 2 == 0 { 40 } else { 0 };
        image::Rgba([(x * 3 % 200) as u8 + stripe, (y * 2 % 200) as u8, 120, 255])
    })
}

fn png_bytes(image: &image::RgbaImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Titan's mask: black inside the square `[x0, x1) × [y0, y1)`, white elsewhere.
fn square_mask(width: u32, height: u32, x0: u32, y0: u32, x1: u32, y1: u32) -> image::RgbaImage {
    image::RgbaImage::from_fn(width, height, |x, y| {
        let inside = (x0..x1).contains(&x) && (y0..y1).contains(&y);
        let v = if inside { 0 } else { 255 };
        image::Rgba([v, v, v, 255])
    })
}

fn inpainting_body(prompt: &str) -> Value {
    let image = scene(96, 64);
    let mask = square_mask(96, 64, 30, 20, 60, 44);
    json!({
        "taskType": "INPAINTING",
        "inPaintingParams": {
            "image": STANDARD.encode(png_bytes(&image)),
            "maskImage": STANDARD.encode(png_bytes(&mask)),
            "text": prompt,
        },
        "imageGenerationConfig": { "numberOfImages": 2, "seed": 42 }
    })
}

fn decode(bytes: &[u8]) -> image::RgbaImage {
    image::load_from_memory(bytes).unwrap().to_rgba8()
}

/// Pixels outside the square are the input's, byte for byte.
fn assert_only_square_changed(output: &image::RgbaImage, input: &image::RgbaImage) {
    assert_eq!(output.dimensions(), input.dimensions());
    let mut changed_inside = 0;
    for (x, y, pixel) in output.enumerate_pixels() {
        let inside = (30..60).contains(&x) && (20..44).contains(&y);
        if inside {
            changed_inside += usize::from(pixel != input.get_pixel(x, y));
        } else {
            assert_eq!(
                pixel,
                input.get_pixel(x, y),
                "pixel {x},{y} outside the mask changed"
            );
        }
    }
    assert!(changed_inside > 0, "nothing inside the mask changed");
}

async fn download(url: &str) -> Vec<u8> {
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{url}");
    response.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn native_inpainting_waits_and_lands_in_history_and_the_request_log() {
    let app = TestApp::spawn().await;
    let mut body = inpainting_body("remove the square");
    body["stylePreset"] = json!("sketch");
    let response = app.post_json("/v1/generations?wait=60", &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let entry: Value = response.json().await.unwrap();
    assert_eq!(entry["status"], "COMPLETED", "{entry}");
    assert_eq!(
        location,
        format!("/v1/history/{}", entry["id"].as_str().unwrap())
    );
    assert_eq!(entry["engine"], "classic");
    assert_eq!(entry["taskType"], "INPAINTING");
    assert_eq!(entry["operation"], "edit");
    assert_eq!(entry["prompt"], "remove the square");
    assert_eq!(entry["stylePreset"], "sketch");
    assert_eq!(entry["seed"], 42);
    let images = entry["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    let input = scene(96, 64);
    let mut names = Vec::new();
    for image in images {
        let filename = image["filename"].as_str().unwrap();
        assert!(
            filename.starts_with("img-") && filename.ends_with(".png") && filename.len() == 20,
            "{filename}"
        );
        names.push(filename.to_owned());
        for url in ["url", "url24h"] {
            let bytes = download(image[url].as_str().unwrap()).await;
            assert_only_square_changed(&decode(&bytes), &input);
            // The parameters travel inside the file (a PNG `parameters` text chunk).
            let reader = png::Decoder::new(Cursor::new(&bytes)).read_info().unwrap();
            let chunk = reader
                .info()
                .utf8_text
                .iter()
                .find(|c| c.keyword == "parameters")
                .expect("a parameters chunk");
            let parameters: Value = serde_json::from_str(&chunk.get_text().unwrap()).unwrap();
            assert_eq!(parameters["prompt"], "remove the square");
            assert_eq!(parameters["seed"], 42);
            assert_eq!(parameters["stylePreset"], "sketch");
            assert_eq!(parameters["engine"], "classic");
        }
    }
    assert_ne!(names[0], names[1]);

    let history: Value = app.get("/v1/history").await.json().await.unwrap();
    assert_eq!(history["items"][0]["id"], entry["id"]);
    let one: Value = app.get(&location).await.json().await.unwrap();
    assert_eq!(one["images"][0]["key"], entry["images"][0]["key"]);

    let log: Value = app.get("/v1/requests").await.json().await.unwrap();
    let row = &log["items"][0];
    assert_eq!(row["status"], "succeeded", "{row}");
    assert_eq!(row["jobId"], entry["id"]);
    assert_eq!(row["taskType"], "INPAINTING");
    assert_eq!(row["engine"], "classic");
    assert_eq!(row["seed"], 42);
    assert_eq!(row["imageCount"], 2);
    let bytes: u64 = images.iter().map(|i| i["bytes"].as_u64().unwrap()).sum();
    assert_eq!(row["outputBytes"], bytes);
    assert!(row["latencyMs"].is_u64());
}

#[tokio::test]
async fn without_wait_the_job_is_accepted_and_finishes_later() {
    let app = TestApp::spawn_without_workers().await;
    let response = app
        .post_json("/v1/generations", &inpainting_body("x"))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let entry: Value = response.json().await.unwrap();
    assert_eq!(entry["status"], "PENDING");
    assert_eq!(entry["images"], json!([]));
    assert_eq!(app.run_pending_jobs().await, 1);
    let id = entry["id"].as_str().unwrap();
    let done: Value = app
        .get(&format!("/v1/history/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(done["images"].as_array().unwrap().len(), 2);
    // The job API sees the same job, and filters by kind.
    assert_eq!(app.job(id).await["status"], "COMPLETED");
    let generated: Value = app
        .get("/v1/jobs?kind=generate")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(generated["jobs"][0]["jobId"], id, "{generated}");
    let processed: Value = app.get("/v1/jobs?kind=process").await.json().await.unwrap();
    assert_eq!(processed["jobs"], json!([]));
    let response = app.get("/v1/jobs?kind=paint").await;
    assert_eq!(
        error_code(response, StatusCode::BAD_REQUEST).await,
        "invalid-query"
    );
}

#[tokio::test]
async fn bad_requests_get_bedrock_messages_and_store_nothing() {
    let app = TestApp::spawn().await;
    let long = "a".repeat(513);
    let cases = [
        (
            json!({ "taskType": "TEXT_IMAGE", "textToImageParams": { "text": long } }),
            "invalid-request",
            "Malformed input request: #/textToImageParams/text: expected maxLength: 512, actual: 513, please reformat your input and try again.",
        ),
        (
            json!({ "taskType": "PAINT", "paintParams": {} }),
            "invalid-request",
            "Malformed input request: #/taskType: PAINT is not a valid enum value, please reformat your input and try again.",
        ),
        (
            json!({ "taskType": "TEXT_IMAGE", "textToImageParams": { "text": "a cat" }, "imageGenerationConfig": { "numberOfImages": 6 } }),
            "invalid-request",
            "Malformed input request: #/imageGenerationConfig/numberOfImages: 6 is not less or equal to 5, please reformat your input and try again.",
        ),
    ];
    for (body, code, message) in cases {
        let response = app.post_json("/v1/generations", &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], code, "{error}");
        assert_eq!(error["error"]["message"], message, "{error}");
    }
    // A task no configured engine can do names the situation (the diffusion engine,
    // on by default, can: without its weights it says so, see tests/api/diffusion.rs).
    let t2i = json!({ "taskType": "TEXT_IMAGE", "textToImageParams": { "text": "a cat" } });
    let response = app.post_json("/v1/generations", &t2i).await;
    let expected = if cfg!(feature = "diffusion") {
        (StatusCode::SERVICE_UNAVAILABLE, "engine-unavailable")
    } else {
        (StatusCode::BAD_REQUEST, "engine-unsupported-task")
    };
    assert_eq!(error_code(response, expected.0).await, expected.1);
    let mut unknown = inpainting_body("x");
    unknown["engine"] = json!("dalle");
    let response = app.post_json("/v1/generations", &unknown).await;
    assert_eq!(
        error_code(response, StatusCode::BAD_REQUEST).await,
        "unknown-engine"
    );
    let mut styled = inpainting_body("x");
    styled["stylePreset"] = json!("vaporwave");
    let response = app.post_json("/v1/generations", &styled).await;
    assert_eq!(
        error_code(response, StatusCode::BAD_REQUEST).await,
        "unknown-style"
    );
    let response = app
        .client
        .post(app.url("/v1/generations"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let history: Value = app.get("/v1/history").await.json().await.unwrap();
    assert_eq!(history["items"], json!([]), "nothing was stored");
}

#[tokio::test]
async fn moderation_refuses_in_every_dialect() {
    let app = TestApp::spawn_with(true, |config| {
        config.generation.moderation.deny = vec!["forbidden thing".into()];
    })
    .await;
    let body = inpainting_body("a Forbidden   Thing here");
    // Native.
    let response = app.post_json("/v1/generations", &body).await;
    assert_eq!(
        error_code(response, StatusCode::BAD_REQUEST).await,
        "content-filtered"
    );
    // Bedrock: ValidationException with the content-filter message.
    let response = app
        .client
        .post(app.url("/model/amazon.titan-image-generator-v2%3A0/invoke"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response.headers()["x-amzn-errortype"]
            .to_str()
            .unwrap()
            .starts_with("ValidationException:")
    );
    let error: Value = response.json().await.unwrap();
    assert_eq!(
        error["message"],
        "This request has been blocked by our content filters."
    );
    // OpenAI: content_policy_violation.
    let response = app
        .client
        .post(app.url("/v1/images/generations"))
        .json(&json!({ "prompt": "one forbidden thing", "response_format": "b64_json" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error: Value = response.json().await.unwrap();
    assert_eq!(
        error["error"]["code"], "content_policy_violation",
        "{error}"
    );
    assert_eq!(error["error"]["type"], "invalid_request_error");
    // Refusals are logged; nothing reaches history.
    let log: Value = app.get("/v1/requests").await.json().await.unwrap();
    let statuses: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["refused"; 3]);
    let history: Value = app.get("/v1/history").await.json().await.unwrap();
    assert_eq!(history["items"], json!([]));
}

#[tokio::test]
async fn history_delete_removes_outputs_and_regenerate_runs_again() {
    let app = TestApp::spawn().await;
    let entry: Value = app
        .post_json("/v1/generations?wait=60", &inpainting_body("x"))
        .await
        .json()
        .await
        .unwrap();
    let id = entry["id"].as_str().unwrap();
    let url = entry["images"][0]["url"].as_str().unwrap().to_owned();
    download(&url).await;

    // Another user sees nothing of it.
    let other = app.new_user("user-b@example.test").await;
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let response = other
            .client
            .request(method, app.url(&format!("/v1/history/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_code(response, StatusCode::NOT_FOUND).await,
            "history-entry-not-found"
        );
    }
    let response = other
        .client
        .post(app.url(&format!("/v1/history/{id}/regenerate")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    // The probes are answered like missing ids, and recorded for administrators.
    let admin = app.admin().await;
    let events: Value = admin
        .client
        .get(app.url("/v1/admin/audit?limit=100"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let denied: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "permission-denied")
        .collect();
    assert_eq!(denied.len(), 3, "{events}");
    assert!(
        denied
            .iter()
            .all(|e| e["principal"] == other.user_id.as_str())
    );
    assert!(denied.iter().all(|e| e["detail"] == format!("job {id}")));

    // Regenerate with a new seed: a new entry, different images, same prompt.
    let again: Value = app
        .client
        .post(app.url(&format!("/v1/history/{id}/regenerate?wait=60")))
        .json(&json!({ "seed": 7 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["status"], "COMPLETED", "{again}");
    assert_ne!(again["id"], entry["id"]);
    assert_eq!(again["seed"], 7);
    assert_eq!(again["prompt"], "x");

    let response = app
        .client
        .delete(app.url(&format!("/v1/history/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        reqwest::get(&url).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let response = app.get(&format!("/v1/history/{id}")).await;
    assert_eq!(
        error_code(response, StatusCode::NOT_FOUND).await,
        "history-entry-not-found"
    );
    let history: Value = app.get("/v1/history").await.json().await.unwrap();
    let ids: Vec<&Value> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["id"])
        .collect();
    assert_eq!(ids, vec![&again["id"]]);
}

#[tokio::test]
async fn the_retention_sweep_deletes_expired_outputs() {
    let app = TestApp::spawn_with(true, |config| {
        config.generation.retention_days = 1.0 / 86_400.0; // one second
        config.generation.sweep_interval_secs = 1;
    })
    .await;
    let entry: Value = app
        .post_json("/v1/generations?wait=60", &inpainting_body("x"))
        .await
        .json()
        .await
        .unwrap();
    let url = entry["images"][0]["url"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = reqwest::get(&url).await.unwrap().status();
        if status == StatusCode::NOT_FOUND {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sweep never removed {url}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let history: Value = app.get("/v1/history").await.json().await.unwrap();
    assert_eq!(history["items"], json!([]));
}

#[tokio::test]
async fn bedrock_endpoint_answers_like_bedrock_with_an_api_key() {
    let app = TestApp::spawn().await;
    let key: Value = app
        .post_json("/v1/keys", &json!({ "name": "sdk" }))
        .await
        .json()
        .await
        .unwrap();
    let client = bearer_client(key["key"].as_str().unwrap());
    let url = app.url("/model/amazon.titan-image-generator-v2%3A0/invoke");
    let response = client
        .post(&url)
        .json(&inpainting_body("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("x-amzn-requestid"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], Value::Null);
    let images = body["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    let first = decode(&STANDARD.decode(images[0].as_str().unwrap()).unwrap());
    assert_only_square_changed(&first, &scene(96, 64));

    // Bedrock's errors: the header names the exception, the body has `message`.
    let cases = [
        (client.post(&url).body("{").header("content-type", "application/json"), 400, "ValidationException"),
        (
            client
                .post(app.url("/model/amazon.titan-image-generator-v1/invoke"))
                .json(&inpainting_body("x")),
            400,
            "ValidationException",
        ),
        (
            reqwest::Client::new().post(&url).json(&inpainting_body("x")),
            403,
            "MissingAuthenticationTokenException",
        ),
        (
            reqwest::Client::new()
                .post(&url)
                .header("authorization", "AWS4-HMAC-SHA256 Credential=EAKIAAAAAAAAAAAAAAAA/20261123/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
                .header("x-amz-date", "20261123T000000Z")
                .json(&inpainting_body("x")),
            403,
            "UnrecognizedClientException",
        ),
    ];
    for (request, status, kind) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{kind}");
        let header = response.headers()["x-amzn-errortype"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(header.starts_with(&format!("{kind}:")), "{header}");
        let body: Value = response.json().await.unwrap();
        assert!(body["message"].is_string(), "{body}");
    }
}

/// OpenAI's edits: multipart, the mask transparent where to edit.
#[tokio::test]
async fn openai_edits_take_the_mask_as_alpha() {
    let app = TestApp::spawn().await;
    let input = scene(96, 64);
    let mask = image::RgbaImage::from_fn(96, 64, |x, y| {
        let edit = (30..60).contains(&x) && (20..44).contains(&y);
        image::Rgba([0, 0, 0, if edit { 0 } else { 255 }])
    });
    let form = || {
        reqwest::multipart::Form::new()
            .part(
                "image",
                reqwest::multipart::Part::bytes(png_bytes(&input)).file_name("image.png"),
            )
            .part(
                "mask",
                reqwest::multipart::Part::bytes(png_bytes(&mask)).file_name("mask.png"),
            )
            .text("prompt", "remove it")
            .text("n", "1")
    };
    let response = app
        .client
        .post(app.url("/v1/images/edits"))
        .multipart(form().text("response_format", "b64_json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert!(body["created"].is_u64());
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    let edited = decode(
        &STANDARD
            .decode(data[0]["b64_json"].as_str().unwrap())
            .unwrap(),
    );
    assert_only_square_changed(&edited, &input);

    let response = app
        .client
        .post(app.url("/v1/images/edits"))
        .multipart(form())
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    let url = body["data"][0]["url"].as_str().unwrap();
    assert_only_square_changed(&decode(&download(url).await), &input);

    // An opaque mask has nothing to edit: OpenAI's error shape, naming the field.
    let opaque = reqwest::multipart::Form::new()
        .part(
            "image",
            reqwest::multipart::Part::bytes(png_bytes(&input)).file_name("image.png"),
        )
        .text("prompt", "x");
    let response = app
        .client
        .post(app.url("/v1/images/edits"))
        .multipart(opaque)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["param"], "mask", "{error}");
    assert_eq!(error["error"]["type"], "invalid_request_error");
    // Without credentials: 401 in OpenAI's shape.
    let response = reqwest::Client::new()
        .post(app.url("/v1/images/generations"))
        .json(&json!({ "prompt": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "invalid_api_key");
}

#[tokio::test]
async fn seed_edit_route_returns_the_image_and_its_execution_metadata() {
    let app = TestApp::spawn().await;
    let input = scene(96, 64);
    let body = json!({
        "image": STANDARD.encode(png_bytes(&input)),
        "mask": STANDARD.encode(png_bytes(&square_mask(96, 64, 30, 20, 60, 44))),
        "prompt": "remove it",
        "mode": "inpainting",
    });
    let response = app.post_json("/edit-image", &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    let edited = STANDARD.decode(answer["image"].as_str().unwrap()).unwrap();
    assert_only_square_changed(&decode(&edited), &input);
    assert_eq!(answer["outputSizeBytes"], edited.len());
    assert!(answer["executionTimeMs"].is_u64(), "{answer}");
    assert_eq!(answer["engine"], "classic");
    let history: Value = app
        .get(&format!(
            "/v1/history/{}",
            answer["requestId"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["status"], "COMPLETED");
    let mut bad = body.clone();
    bad["mode"] = json!("sideways");
    let response = app.post_json("/edit-image", &bad).await;
    assert_eq!(
        error_code(response, StatusCode::BAD_REQUEST).await,
        "invalid-mode"
    );
}

#[tokio::test]
async fn edit_quota_is_counted_per_request() {
    let app = TestApp::spawn_with(true, |config| {
        let mut quotas = BTreeMap::new();
        quotas.insert(
            OpClass::Edit,
            QuotaLimits {
                day: Some(1),
                week: None,
                month: None,
            },
        );
        config.plans.insert(
            "tiny".into(),
            Plan {
                rate_per_sec: 100.0,
                burst: 100,
                quotas,
            },
        );
        config.auth.default_plan = "tiny".into();
    })
    .await;
    let first = app
        .post_json("/v1/generations", &inpainting_body("x"))
        .await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let second = app
        .post_json("/v1/generations", &inpainting_body("x"))
        .await;
    assert!(second.headers().contains_key("retry-after"));
    assert_eq!(
        error_code(second, StatusCode::TOO_MANY_REQUESTS).await,
        "quota-exceeded"
    );
    let me: Value = app.get("/v1/me").await.json().await.unwrap();
    assert_eq!(me["quotas"]["edit"]["day"]["used"], 1, "{me}");
}

#[tokio::test]
async fn engines_and_styles_are_listed() {
    let app = TestApp::spawn().await;
    let listing: Value = app.get("/v1/engines").await.json().await.unwrap();
    let classic = &listing["engines"][0];
    assert_eq!(classic["name"], "classic");
    assert_eq!(classic["tasks"], json!(["INPAINTING", "OUTPAINTING"]));
    let styles: Vec<&str> = listing["styles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["label"].as_str().unwrap())
        .collect();
    for label in ["Anime", "Realistic", "Oil Painting", "Sketch"] {
        assert!(styles.contains(&label), "{styles:?}");
    }
    let presets: Value = app.get("/v1/presets").await.json().await.unwrap();
    let names: Vec<&str> = presets["presets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["thumbnail", "web", "web-detect"]);
    assert_eq!(
        presets["presets"][0]["pipeline"]["output"]["format"],
        "webp"
    );
}
