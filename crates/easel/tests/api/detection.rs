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
}
