//! Object detection through the API with a real model (nudenet's YOLOv8 from its PyPI
//! wheel, registered under `[detection.models.nudenet]`) on a real photo (scikit-image's
//! astronaut): the job reports the face with its box in source pixels, `annotate`
//! draws it, privacy `blur` changes only the face, `gravity: "objects"` frames it; a
//! model that is not there answers 503 `engine-unavailable` naming what to run, and a
//! pipeline that uses objects without `detect` is refused. Needs
//! `scripts/detect-fixtures` (`EASEL_TEST_DETECT`, default target/detect-fixtures).

use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code};

fn fixtures() -> PathBuf {
    let dir = std::env::var_os("EASEL_TEST_DETECT").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/detect-fixtures"),
        PathBuf::from,
    );
    assert!(
        dir.join("nudenet-320n.onnx").exists(),
        "{} lacks the detection fixtures: run scripts/detect-fixtures",
        dir.display()
    );
    dir
}

async fn app_with_model() -> TestApp {
    let model = fixtures().join("nudenet-320n.onnx");
    TestApp::spawn_with(true, move |config| {
        config.detection.models.insert(
            "nudenet".into(),
            easel::config::ModelEntry {
                path: model,
                labels: None,
                input_size: None,
            },
        );
    })
    .await
}

fn astronaut() -> Vec<u8> {
    std::fs::read(fixtures().join("astronaut.png")).unwrap()
}

async fn run(app: &TestApp, key: &str, pipeline: Value) -> Value {
    let job = app
        .create_job(
            &json!({ "sources": [{ "bucket": "uploads", "key": key }], "pipeline": pipeline }),
        )
        .await;
    let done = app.wait_for_job(job["jobId"].as_str().unwrap()).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    done
}

async fn download(app: &TestApp, done: &Value) -> image::RgbImage {
    let url = done["results"][0]["output"]["downloadUrl"]
        .as_str()
        .unwrap();
    let bytes = app
        .client
        .get(url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    image::load_from_memory(&bytes).unwrap().to_rgb8()
}

fn face(done: &Value) -> [u32; 4] {
    let detections = done["results"][0]["detections"].as_array().unwrap();
    let face = detections
        .iter()
        .find(|d| d["label"] == "FACE_FEMALE")
        .unwrap_or_else(|| panic!("no face in {detections:?}"));
    assert!(face["confidence"].as_f64().unwrap() > 0.5, "{face}");
    serde_json::from_value(face["bbox"].clone()).unwrap()
}

#[tokio::test]
async fn a_detect_job_reports_the_face_in_source_pixels() {
    let app = app_with_model().await;
    let key = app.upload("astronaut.png", "image/png", astronaut()).await;
    // The source is 512×512; the output is resized, the boxes stay in source pixels.
    let done = run(
        &app,
        &key,
        json!({ "ops": [
            { "op": "resize", "width": 128 },
            { "op": "detect", "model": "nudenet", "classes": ["FACE_FEMALE"], "minConfidence": 0.3 }
        ], "output": { "format": "png" } }),
    )
    .await;
    let [x1, y1, x2, y2] = face(&done);
    // nudenet's own pipeline puts the face at about (173, 82)-(275, 180).
    assert!(
        (160..=190).contains(&x1) && (70..=100).contains(&y1),
        "{x1},{y1}"
    );
    assert!(
        (255..=290).contains(&x2) && (165..=200).contains(&y2),
        "{x2},{y2}"
    );
    // In the 128-px output, the same box a quarter the size (for drawing over it).
    let placed: [u32; 4] =
        serde_json::from_value(done["results"][0]["detections"][0]["outputBbox"].clone()).unwrap();
    for (p, s) in placed.iter().zip([x1, y1, x2, y2]) {
        assert!(
            p.abs_diff(s / 4) <= 1,
            "{placed:?} vs {:?}",
            [x1, y1, x2, y2]
        );
    }
    assert_eq!(
        done["results"][0]["detections"].as_array().unwrap().len(),
        1,
        "classes filter"
    );
    assert_eq!(done["results"][0]["output"]["width"], 128);

    // The same photo as a 2048×2048 JPEG: decoded shrunk (to no less than the model's
    // input), the boxes still come back in the JPEG's own pixels, four times as large.
    let enlarge: easel_image::Pipeline = serde_json::from_value(json!({
        "ops": [{ "op": "resize", "width": 2048, "height": 2048, "enlarge": true, "filter": "bilinear" }],
        "output": { "format": "jpeg", "quality": 92 }
    }))
    .unwrap();
    let jpeg = easel_image::process(&astronaut(), &enlarge, &easel_image::Limits::default())
        .unwrap()
        .bytes;
    let key = app.upload("astronaut-big.jpg", "image/jpeg", jpeg).await;
    let done = run(
        &app,
        &key,
        json!({ "ops": [
            { "op": "resize", "width": 128 },
            { "op": "detect", "model": "nudenet", "classes": ["FACE_FEMALE"] }
        ] }),
    )
    .await;
    let big_face = face(&done);
    for (b, s) in big_face.iter().zip([x1, y1, x2, y2]) {
        assert!(
            b.abs_diff(4 * s) <= 24,
            "{big_face:?} vs 4 × {:?}",
            [x1, y1, x2, y2]
        );
    }
}

#[tokio::test]
async fn annotate_blur_and_object_gravity_use_the_boxes() {
    let app = app_with_model().await;
    let key = app.upload("astronaut.png", "image/png", astronaut()).await;
    let original = image::load_from_memory(&astronaut()).unwrap().to_rgb8();
    let detect = json!({ "op": "detect", "model": "nudenet", "classes": ["FACE_FEMALE"] });

    let done = run(&app, &key, json!({ "ops": [detect, { "op": "annotate", "color": "#00ff00" }], "output": { "format": "png" } })).await;
    let [x1, y1, x2, _] = face(&done);
    let drawn = download(&app, &done).await;
    // The box's top edge is green; a pixel far from it is untouched.
    let mid = (x1 + x2) / 2;
    assert_eq!(drawn.get_pixel(mid, y1 + 1).0, [0, 255, 0]);
    assert_eq!(drawn.get_pixel(450, 450), original.get_pixel(450, 450));

    let done = run(&app, &key, json!({ "ops": [detect, { "op": "blur", "sigma": 8, "classes": ["FACE_FEMALE"] }], "output": { "format": "png" } })).await;
    let [x1, y1, x2, y2] = face(&done);
    let blurred = download(&app, &done).await;
    let changed = |x0: u32, y0: u32, x1: u32, y1: u32| {
        let mut n = 0;
        for y in y0..y1 {
            for x in x0..x1 {
                n += u32::from(blurred.get_pixel(x, y) != original.get_pixel(x, y));
            }
        }
        n
    };
    let inside = changed(x1 + 2, y1 + 2, x2 - 2, y2 - 2);
    assert!(
        inside > (x2 - x1 - 4) * (y2 - y1 - 4) / 2,
        "the face is blurred ({inside} px)"
    );
    assert_eq!(
        changed(0, 0, 512, y1.saturating_sub(1)),
        0,
        "nothing above the face changes"
    );

    // A 100×100 crop framing the face, not the centre of the photo.
    let done = run(&app, &key, json!({ "ops": [detect, { "op": "crop", "width": 100, "height": 100, "gravity": "objects" }], "output": { "format": "png" } })).await;
    let crop = download(&app, &done).await;
    assert_eq!(crop.dimensions(), (100, 100));
    // The window sits where the face's centre minus half the window is (± rounding).
    let (cx, cy) = ((x1 + x2) / 2, (y1 + y2) / 2);
    let matches = |left: u32, top: u32| {
        (0..100).all(|y| {
            (0..100).all(|x| crop.get_pixel(x, y) == original.get_pixel(left + x, top + y))
        })
    };
    let found = (cy - 52..=cy - 48)
        .flat_map(|top| (cx - 52..=cx - 48).map(move |left| (left, top)))
        .find(|&(left, top)| matches(left, top));
    assert!(
        found.is_some(),
        "the crop is not centred on the face at ({cx}, {cy})"
    );
}

/// Seed 002's flow with its default preset (`web-detect`) and a model installed: the
/// seed's `GET /jobs/{id}` lists the face; `ifAvailable` is refused beside operations
/// that need the objects.
#[tokio::test]
async fn the_seed_process_route_detects_with_the_default_model() {
    let app = app_with_model().await;
    let key = app.upload("astronaut.png", "image/png", astronaut()).await;
    let s3 = format!("s3://uploads/{key}");
    let response = app
        .post_json("/process", &json!({ "imageUrls": [s3], "userId": "u1" }))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let id = response.json::<Value>().await.unwrap()["jobId"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for_job(&id).await;
    let done: Value = app.get(&format!("/jobs/{id}")).await.json().await.unwrap();
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let image = &done["detections"][0];
    assert_eq!(image["imageUrl"], s3);
    let found = image["detections"].as_array().unwrap();
    assert_eq!(image["detectionCount"], found.len());
    let face = found
        .iter()
        .find(|d| d["label"] == "FACE_FEMALE")
        .unwrap_or_else(|| panic!("no face in {done}"));
    let b: Vec<f64> = face["bbox"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    // The astronaut's face, in the 512×512 source's pixels: nudenet's own pipeline puts
    // it at about (173, 82)-(275, 180).
    let expected = [173.0, 82.0, 275.0, 180.0];
    assert!(
        b.iter().zip(expected).all(|(g, e)| (g - e).abs() < 15.0),
        "{b:?}"
    );

    let response = app
        .post_json(
            "/v1/jobs",
            &json!({ "sources": [{ "bucket": "uploads", "key": key }],
                     "pipeline": { "ops": [{ "op": "detect", "ifAvailable": true }, { "op": "annotate" }] } }),
        )
        .await;
    assert_eq!(
        error_code(response, StatusCode::BAD_REQUEST).await,
        "invalid-pipeline"
    );
}

#[tokio::test]
async fn a_missing_model_is_unavailable_and_objects_need_detect() {
    let app = app_with_model().await;
    let key = app.upload("astronaut.png", "image/png", astronaut()).await;
    let response = app
        .post_json(
            "/v1/jobs",
            &json!({ "sources": [{ "bucket": "uploads", "key": key }],
                     "pipeline": { "ops": [{ "op": "detect", "model": "yolo11n" }] } }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "engine-unavailable", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("easel models pull yolo11n"), "{message}");

    let response = app
        .post_json(
            "/v1/jobs",
            &json!({ "sources": [{ "bucket": "uploads", "key": key }],
                     "pipeline": { "ops": [{ "op": "annotate" }] } }),
        )
        .await;
    assert_eq!(
        error_code(response, StatusCode::BAD_REQUEST).await,
        "invalid-pipeline"
    );

    // A class the model does not have is refused at submission, naming the step and
    // what the model knows.
    let response = app
        .post_json(
            "/v1/jobs",
            &json!({ "sources": [{ "bucket": "uploads", "key": key }],
                     "pipeline": { "ops": [{ "op": "detect", "model": "nudenet" },
                                           { "op": "blur", "sigma": 8, "classes": ["FACE_FEMALE", "face"] }] } }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid-pipeline");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("ops[1] blur: the detection model has no class \"face\"")
            && message.contains("FACE_FEMALE"),
        "{message}"
    );
}

/// An app whose image moderation uses nudenet with the face class as the "unsafe" one
/// (the test photo is not NSFW; the mechanism is the same for any class).
async fn app_with_moderation(
    uploads: easel_core::ModerationPolicy,
    generations: easel_core::ModerationPolicy,
    outputs: easel_core::ModerationPolicy,
) -> TestApp {
    let model = fixtures().join("nudenet-320n.onnx");
    TestApp::spawn_with(true, move |config| {
        config.detection.models.insert(
            "nudenet".into(),
            easel::config::ModelEntry {
                path: model,
                labels: None,
                input_size: None,
            },
        );
        let moderation = &mut config.image_moderation;
        moderation.model = Some("nudenet".into());
        moderation.classes = vec!["FACE_FEMALE".into()];
        moderation.min_confidence = 0.3;
        moderation.uploads = uploads;
        moderation.generations = generations;
        moderation.outputs = outputs;
    })
    .await
}

fn png(image: &image::RgbaImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// The astronaut (RGBA) and Titan's mask for a 40-px square in its bottom-right corner,
/// far from the face: the classic engine's edit keeps the face.
fn astronaut_and_mask() -> (image::RgbaImage, image::RgbaImage) {
    let photo = image::load_from_memory(&astronaut()).unwrap().to_rgba8();
    let mask = image::RgbaImage::from_fn(512, 512, |x, y| {
        let v = if x >= 460 && y >= 460 { 0 } else { 255 };
        image::Rgba([v, v, v, 255])
    });
    (photo, mask)
}

fn edit_body() -> Value {
    use base64::Engine as _;
    let (photo, mask) = astronaut_and_mask();
    let b64 = base64::engine::general_purpose::STANDARD;
    json!({
        "taskType": "INPAINTING",
        "inPaintingParams": {
            "image": b64.encode(png(&photo)),
            "maskImage": b64.encode(png(&mask)),
            "text": "a small rock",
        },
        "imageGenerationConfig": { "numberOfImages": 1, "seed": 7 }
    })
}

async fn audit_events(app: &TestApp, event: &str) -> Vec<Value> {
    let admin = app.admin().await;
    let events: Value = admin
        .client
        .get(app.url("/v1/admin/audit?limit=200"))
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
        .filter(|e| e["event"] == event)
        .cloned()
        .collect()
}

/// `block` on generations: an edit whose output shows an unsafe class answers in each
/// dialect as that provider's output filter does, stores no image, and is recorded.
#[tokio::test]
async fn blocked_generations_answer_like_a_provider_filter_and_store_nothing() {
    use easel_core::ModerationPolicy::{Block, Off};
    let app = app_with_moderation(Off, Block, Off).await;
    let refusal = "This request has been blocked by our content filters.";
    // Native.
    let response = app.post_json("/v1/generations?wait=60", &edit_body()).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "content-filtered", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with(refusal),
        "{body}"
    );
    // Bedrock: ValidationException, Bedrock's content-filter wording.
    let response = app
        .client
        .post(app.url("/model/amazon.titan-image-generator-v2%3A0/invoke"))
        .json(&edit_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let kind = response.headers()["x-amzn-errortype"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(kind.starts_with("ValidationException"), "{kind}");
    let body: Value = response.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().starts_with(refusal),
        "{body}"
    );
    // OpenAI: content_policy_violation.
    let (photo, _) = astronaut_and_mask();
    let mask = image::RgbaImage::from_fn(512, 512, |x, y| {
        image::Rgba([0, 0, 0, if x >= 460 && y >= 460 { 0 } else { 255 }])
    });
    let form = reqwest::multipart::Form::new()
        .part(
            "image",
            reqwest::multipart::Part::bytes(png(&photo)).file_name("image.png"),
        )
        .part(
            "mask",
            reqwest::multipart::Part::bytes(png(&mask)).file_name("mask.png"),
        )
        .text("prompt", "a small rock")
        .text("response_format", "b64_json");
    let response = app
        .client
        .post(app.url("/v1/images/edits"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "content_policy_violation", "{body}");

    // Nothing blocked was stored: no entry in history has an image.
    let history: Value = app.get("/v1/history").await.json().await.unwrap();
    for item in history["items"].as_array().unwrap() {
        assert_eq!(item["images"], json!([]), "{item}");
    }
    let blocked = audit_events(&app, "image-blocked").await;
    assert_eq!(blocked.len(), 3, "{blocked:?}");
    for event in &blocked {
        let detail = event["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("generations: job") && detail.contains("FACE_FEMALE"),
            "{detail}"
        );
    }
}

/// `blur` on generations and `flag` on outputs: the edit is stored with the face
/// blurred and everything else as the engine made it; the process output is stored
/// as is; both are recorded for admins.
#[tokio::test]
async fn blurred_generations_and_flagged_outputs_are_stored_and_recorded() {
    use easel_core::ModerationPolicy::{Blur, Flag, Off};
    let app = app_with_moderation(Off, Blur, Flag).await;
    let response = app.post_json("/v1/generations?wait=60", &edit_body()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let entry: Value = response.json().await.unwrap();
    let url = entry["images"][0]["url"].as_str().unwrap();
    let bytes = app
        .client
        .get(url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let stored = image::load_from_memory(&bytes).unwrap().to_rgba8();
    let (photo, _) = astronaut_and_mask();
    // The face, about (173, 82)-(275, 180), no longer looks like the photo's.
    let mean = face_difference(&stored, &photo);
    assert!(
        mean > 8.0,
        "the face is not blurred (mean difference {mean:.1})"
    );
    // The top-left corner, far from the face and the mask, is untouched.
    for y in 0..40 {
        for x in 0..40 {
            assert_eq!(stored.get_pixel(x, y), photo.get_pixel(x, y), "({x}, {y})");
        }
    }
    let blurred = audit_events(&app, "image-blurred").await;
    assert_eq!(blurred.len(), 1, "{blurred:?}");

    let key = app.upload("astronaut.png", "image/png", astronaut()).await;
    let done = run(
        &app,
        &key,
        json!({ "ops": [{ "op": "resize", "width": 256 }] }),
    )
    .await;
    assert!(
        done["results"][0]["output"]["downloadUrl"].is_string(),
        "{done}"
    );
    let flagged = audit_events(&app, "image-flagged").await;
    assert_eq!(flagged.len(), 1, "{flagged:?}");
    assert!(
        flagged[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("outputs: job")
    );
}

/// `block` on outputs: the image fails with `content-blocked` and nothing is stored.
#[tokio::test]
async fn blocked_outputs_fail_the_image_and_store_nothing() {
    use easel_core::ModerationPolicy::{Block, Off};
    let app = app_with_moderation(Off, Off, Block).await;
    let key = app.upload("astronaut.png", "image/png", astronaut()).await;
    let job = app
        .create_job(&json!({ "sources": [{ "bucket": "uploads", "key": key }],
                             "pipeline": { "ops": [{ "op": "resize", "width": 256 }] } }))
        .await;
    let done = app.wait_for_job(job["jobId"].as_str().unwrap()).await;
    assert_eq!(done["status"], "FAILED", "{done}");
    let result = &done["results"][0];
    assert_eq!(result["error"]["code"], "content-blocked", "{done}");
    assert!(result["output"].is_null(), "{done}");
    assert_eq!(audit_events(&app, "image-blocked").await.len(), 1);
}

/// Mean absolute difference of the face region, (190, 100)-(260, 160), of two images.
fn face_difference(a: &image::RgbaImage, b: &image::RgbaImage) -> f64 {
    let mut diff = 0u64;
    for y in 100..160 {
        for x in 190..260 {
            let (p, q) = (a.get_pixel(x, y), b.get_pixel(x, y));
            diff += (0..3).map(|c| u64::from(p[c].abs_diff(q[c]))).sum::<u64>();
        }
    }
    diff as f64 / (60.0 * 70.0 * 3.0)
}

/// `block` on uploads refuses the PUT with `content-blocked` and deletes the bytes;
/// `blur` stores the upload with the face blurred (what every job then reads).
#[tokio::test]
async fn uploads_are_blocked_or_stored_blurred() {
    use easel_core::ModerationPolicy::{Block, Blur, Off};
    let app = app_with_moderation(Block, Off, Off).await;
    let presigned = app.presign("astronaut.png", "image/png").await;
    let response = app
        .client
        .put(presigned["url"].as_str().unwrap())
        .header("content-type", "image/png")
        .body(astronaut())
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response, StatusCode::UNPROCESSABLE_ENTITY).await,
        "content-blocked"
    );
    let key = presigned["key"].as_str().unwrap();
    let response = app
        .post_json(
            "/v1/jobs",
            &json!({ "sources": [{ "bucket": "uploads", "key": key }], "preset": "web" }),
        )
        .await;
    assert_eq!(
        error_code(response, StatusCode::NOT_FOUND).await,
        "object-not-found"
    );
    let blocked = audit_events(&app, "image-blocked").await;
    assert_eq!(blocked.len(), 1, "{blocked:?}");
    assert!(
        blocked[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("uploads: s3://uploads/")
    );

    let app = app_with_moderation(Blur, Off, Off).await;
    let key = app.upload("astronaut.png", "image/png", astronaut()).await;
    let done = run(
        &app,
        &key,
        json!({ "ops": [], "output": { "format": "png" } }),
    )
    .await;
    let stored = download(&app, &done).await;
    let photo = image::load_from_memory(&astronaut()).unwrap().to_rgb8();
    let to_rgba = |i: &image::RgbImage| image::DynamicImage::ImageRgb8(i.clone()).to_rgba8();
    let mean = face_difference(&to_rgba(&stored), &to_rgba(&photo));
    assert!(
        mean > 8.0,
        "the uploaded face is not blurred (mean difference {mean:.1})"
    );
    assert_eq!(audit_events(&app, "image-blurred").await.len(), 1);
}

/// A worker does not start when moderation is on and its model is missing.
#[tokio::test]
async fn moderation_without_its_model_refuses_to_start() {
    let mut config = easel::config::Config::default();
    config.image_moderation.model = Some("absent".into());
    config.image_moderation.generations = easel_core::ModerationPolicy::Block;
    let dir = tempfile::tempdir().unwrap();
    config.storage.data_dir = dir.path().to_owned();
    let stores = easel::app::Stores::open(&config).await.unwrap();
    let error = stores.worker_deps(&config).await.err().unwrap().to_string();
    assert!(
        error.contains("image moderation is on") && error.contains("easel models pull absent"),
        "{error}"
    );
}
