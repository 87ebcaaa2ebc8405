//! The local diffusion engine served: a tiny random-weight model in the diffusers layout
//! (written by the test, loaded through the real loader) behind the native, Bedrock and
//! OpenAI routes; step progress in the job's event stream; the same seed giving the same
//! image; inpainting that keeps unmasked pixels; an SDXL model behind the same routes;
//! and a server without weights saying which files are missing and how to get them.

use std::io::Cursor;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use easel_diffusion::PipelineKind;
use easel_diffusion::tiny::{write_tiny_model, write_tiny_xl_model};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code};

async fn with_tiny_model(model_dir: &Path) -> TestApp {
    with_model_from(write_tiny_model, model_dir).await
}

/// A server whose diffusion engine runs the tiny model `write` puts in `model_dir`.
async fn with_model_from(
    write: fn(&Path, PipelineKind, &str) -> std::io::Result<()>,
    model_dir: &Path,
) -> TestApp {
    write(
        model_dir,
        PipelineKind::TextToImage,
        "EulerAncestralDiscreteScheduler",
    )
    .unwrap();
    let dir = model_dir.to_owned();
    TestApp::spawn_with(true, move |config| {
        config.engines.diffusion = Some(json!({
            "model": "tiny",
            "model_dir": dir,
            "steps": 3,
        }));
    })
    .await
}

async fn download(url: &str) -> image::RgbaImage {
    let bytes = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    image::load_from_memory(&bytes).unwrap().to_rgba8()
}

/// Nova Canvas's rules allow the small 320×336 canvas the tiny model renders quickly.
fn text_body(seed: u32, images: u32) -> Value {
    json!({
        "model": "amazon.nova-canvas-v1:0",
        "taskType": "TEXT_IMAGE",
        "textToImageParams": { "text": "a lighthouse at dusk", "negativeText": "fog" },
        "imageGenerationConfig": {
            "numberOfImages": images, "width": 320, "height": 336, "seed": seed, "cfgScale": 6.5
        }
    })
}

#[tokio::test]
async fn text_to_image_runs_on_the_local_model_with_step_progress() {
    let models = tempfile::tempdir().unwrap();
    let app = with_tiny_model(models.path()).await;

    let listing: Value = app.get("/v1/engines").await.json().await.unwrap();
    let diffusion = listing["engines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "diffusion")
        .expect("the diffusion engine is listed");
    assert_eq!(diffusion["available"], true, "{diffusion}");

    // Accepted, then followed through its event stream.
    let response = app.post_json("/v1/generations", &text_body(7, 2)).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let accepted: Value = response.json().await.unwrap();
    let id = accepted["id"].as_str().unwrap().to_owned();
    let events = app.follow_events(&id).await;
    let steps: Vec<(u64, u64)> = events
        .iter()
        .filter_map(|e| Some((e["steps"]["done"].as_u64()?, e["steps"]["total"].as_u64()?)))
        .collect();
    // 3 steps per image, 2 images: progress arrives in steps, not only per image.
    assert!(steps.iter().all(|&(_, total)| total == 6), "{steps:?}");
    assert!(
        steps
            .iter()
            .any(|&(done, _)| done > 0 && done < 6 && done != 3),
        "a step inside an image was reported: {steps:?}"
    );
    assert_eq!(events.last().unwrap()["status"], "COMPLETED");

    let entry: Value = app
        .get(&format!("/v1/history/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(entry["engine"], "diffusion", "{entry}");
    let images = entry["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    let first = download(images[0]["url"].as_str().unwrap()).await;
    let second = download(images[1]["url"].as_str().unwrap()).await;
    assert_eq!(first.dimensions(), (320, 336));
    assert_ne!(first, second, "image i uses seed + i");

    // The same request again (waited for this time) gives the same pixels.
    let response = app
        .post_json("/v1/generations?wait=120", &text_body(7, 1))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let again: Value = response.json().await.unwrap();
    let repeat = download(again["images"][0]["url"].as_str().unwrap()).await;
    assert_eq!(repeat, first, "same seed and parameters, same image");
    let response = app
        .post_json("/v1/generations?wait=120", &text_body(8, 1))
        .await;
    let other: Value = response.json().await.unwrap();
    assert_ne!(
        download(other["images"][0]["url"].as_str().unwrap()).await,
        first
    );
}

#[tokio::test]
async fn inpainting_and_the_provider_dialects_use_it_too() {
    let models = tempfile::tempdir().unwrap();
    let app = with_tiny_model(models.path()).await;
    check_inpainting_and_openai(&app).await;
}

#[tokio::test]
async fn an_sdxl_model_serves_the_same_requests() {
    let models = tempfile::tempdir().unwrap();
    let app = with_model_from(write_tiny_xl_model, models.path()).await;
    let generate = |seed: u32, negative: &str| {
        let mut body = text_body(seed, 1);
        body["textToImageParams"]["negativeText"] = json!(negative);
        body
    };
    let mut images = Vec::new();
    for (seed, negative) in [(5, "fog"), (5, "fog"), (5, "rain"), (6, "fog")] {
        let response = app
            .post_json("/v1/generations?wait=120", &generate(seed, negative))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let entry: Value = response.json().await.unwrap();
        assert_eq!(entry["engine"], "diffusion", "{entry}");
        images.push(download(entry["images"][0]["url"].as_str().unwrap()).await);
    }
    assert_eq!(images[0].dimensions(), (320, 336));
    assert_eq!(images[0], images[1], "same seed and parameters, same image");
    assert_ne!(images[0], images[2], "the negative prompt steers");
    assert_ne!(images[0], images[3], "another seed, another image");
    check_inpainting_and_openai(&app).await;
}

/// Inpainting keeps unmasked pixels; OpenAI's images API reaches the engine too.
async fn check_inpainting_and_openai(app: &TestApp) {
    // A 100×70 scene (not a multiple of 8) with a square to regenerate.
    let scene = image::RgbaImage::from_fn(100, 70, |x, y| {
        image::Rgba([(x * 2) as u8, (y * 3) as u8, 90, 255])
    });
    let mask = image::RgbaImage::from_fn(100, 70, |x, y| {
        let inside = (30..60).contains(&x) && (20..44).contains(&y);
        let v = if inside { 0 } else { 255 };
        image::Rgba([v, v, v, 255])
    });
    let png = |image: &image::RgbaImage| {
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, image::ImageFormat::Png).unwrap();
        STANDARD.encode(out.into_inner())
    };
    let body = json!({
        "engine": "diffusion",
        "taskType": "INPAINTING",
        "inPaintingParams": { "image": png(&scene), "maskImage": png(&mask), "text": "a window" },
        "imageGenerationConfig": { "numberOfImages": 1, "seed": 3 }
    });
    let response = app.post_json("/v1/generations?wait=120", &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let entry: Value = response.json().await.unwrap();
    assert_eq!(entry["engine"], "diffusion");
    let out = download(entry["images"][0]["url"].as_str().unwrap()).await;
    assert_eq!(out.dimensions(), (100, 70));
    let mut changed = 0;
    for (x, y, pixel) in out.enumerate_pixels() {
        if (30..60).contains(&x) && (20..44).contains(&y) {
            changed += usize::from(pixel != scene.get_pixel(x, y));
        } else {
            assert_eq!(pixel, scene.get_pixel(x, y), "kept pixel ({x},{y}) changed");
        }
    }
    assert!(
        changed > 30 * 24 / 2,
        "only {changed} masked pixels changed"
    );

    // OpenAI's images API: TEXT_IMAGE goes to the only engine that can do it.
    let response = app
        .post_json(
            "/v1/images/generations",
            &json!({"prompt": "a red kite", "size": "512x512", "response_format": "b64_json"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let bytes = STANDARD
        .decode(body["data"][0]["b64_json"].as_str().unwrap())
        .unwrap();
    let image = image::load_from_memory(&bytes).unwrap();
    assert_eq!((image.width(), image.height()), (512, 512));
}

#[tokio::test]
async fn without_weights_the_engine_says_what_is_missing() {
    // Default configuration: the engine is on, its model is not installed.
    let app = TestApp::spawn().await;
    let listing: Value = app.get("/v1/engines").await.json().await.unwrap();
    let diffusion = listing["engines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "diffusion")
        .expect("the diffusion engine is on by default");
    assert_eq!(diffusion["available"], false);
    let reason = diffusion["unavailableReason"].as_str().unwrap();
    assert!(reason.contains("easel models pull sd-turbo"), "{reason}");
    assert!(
        reason.contains("unet/diffusion_pytorch_model.safetensors"),
        "{reason}"
    );

    let t2i = json!({ "taskType": "TEXT_IMAGE", "textToImageParams": { "text": "a cat" } });
    let response = app.post_json("/v1/generations", &t2i).await;
    assert_eq!(
        error_code(response, StatusCode::SERVICE_UNAVAILABLE).await,
        "engine-unavailable"
    );
    // Nothing was queued.
    let jobs: Value = app.get("/v1/jobs").await.json().await.unwrap();
    assert_eq!(jobs["jobs"], json!([]), "{jobs}");
}
