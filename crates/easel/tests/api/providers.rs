//! Provider engines against real wire formats. `bedrock`: a second Easel whose engine is
//! Bedrock, pointed at the first Easel's Bedrock-compatible endpoint — a full SigV4
//! round trip with an access key created in Easel. `openai`: a stand-in OpenAI Images
//! server (the real one cannot be reached from here) that checks the request it gets,
//! serving the seed 003 routes and a styled text-to-image generation, and the Bedrock
//! route's `x-easel-engine` preference between it and the classic engine.

use std::io::Cursor;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::http::HeaderMap;
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code};

fn png(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let image = image::RgbaImage::from_fn(width, height, |x, y| {
        image::Rgba([
            (x as u8).wrapping_mul(3) ^ seed,
            (y as u8).wrapping_mul(5),
            seed,
            255,
        ])
    });
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn inpainting(width: u32, height: u32) -> (Vec<u8>, Value) {
    let image = png(width, height, 9);
    let mask = image::RgbaImage::from_fn(width, height, |x, y| {
        let hole = (10..30).contains(&x) && (10..30).contains(&y);
        let v = if hole { 0 } else { 255 };
        image::Rgba([v, v, v, 255])
    });
    let mut mask_png = Cursor::new(Vec::new());
    mask.write_to(&mut mask_png, image::ImageFormat::Png)
        .unwrap();
    let body = json!({
        "taskType": "INPAINTING",
        "inPaintingParams": {
            "image": STANDARD.encode(&image),
            "maskImage": STANDARD.encode(mask_png.into_inner()),
        },
        "imageGenerationConfig": { "numberOfImages": 1, "seed": 3 }
    });
    (image, body)
}

#[tokio::test]
async fn bedrock_engine_signs_with_an_easel_access_key_end_to_end() {
    // Easel A: the "Bedrock" (classic engine behind its Bedrock-compatible endpoint).
    let provider = TestApp::spawn().await;
    let key: Value = provider
        .post_json("/v1/keys", &json!({ "name": "sdk", "type": "access-key" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(key["type"], "access-key");
    let access_key_id = key["accessKeyId"].as_str().unwrap().to_owned();
    let secret = key["secretAccessKey"].as_str().unwrap().to_owned();
    assert!(access_key_id.starts_with("EAKI") && access_key_id.len() == 20);
    let listed: Value = provider.get("/v1/keys").await.json().await.unwrap();
    assert_eq!(listed["keys"][0]["type"], "access-key");
    assert!(listed["keys"][0].get("secretAccessKey").is_none());

    // Easel B: only the bedrock engine, signing with that key.
    let endpoint = provider.base.clone();
    let (id, good) = (access_key_id.clone(), secret.clone());
    let client = TestApp::spawn_with(true, move |config| {
        config.engines.classic = false;
        config.engines.bedrock = Some(json!({
            "endpoint": endpoint,
            "region": "us-east-1",
            "access_key_id": id,
            "secret_access_key": good,
            "max_attempts": 1,
        }));
    })
    .await;
    let (image, body) = inpainting(48, 40);
    let response = client.post_json("/v1/generations?wait=60", &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let entry: Value = response.json().await.unwrap();
    assert_eq!(entry["engine"], "bedrock");
    let out = reqwest::get(entry["images"][0]["url"].as_str().unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let out = image::load_from_memory(&out).unwrap().to_rgba8();
    let input = image::load_from_memory(&image).unwrap().to_rgba8();
    for (x, y, pixel) in out.enumerate_pixels() {
        if !((10..30).contains(&x) && (10..30).contains(&y)) {
            assert_eq!(pixel, input.get_pixel(x, y), "{x},{y}");
        }
    }
    // The provider ran it as a Bedrock request of the key's owner.
    let log: Value = provider.get("/v1/requests").await.json().await.unwrap();
    assert_eq!(log["items"][0]["dialect"], "bedrock");
    assert_eq!(log["items"][0]["status"], "succeeded");

    // A wrong secret: the provider refuses the signature; the job fails for good.
    let endpoint = provider.base.clone();
    let wrong = TestApp::spawn_with(true, move |config| {
        config.engines.classic = false;
        config.engines.bedrock = Some(json!({
            "endpoint": endpoint,
            "access_key_id": access_key_id,
            "secret_access_key": "x".repeat(40),
            "max_attempts": 1,
        }));
    })
    .await;
    let response = wrong.post_json("/v1/generations?wait=60", &body).await;
    assert_eq!(
        error_code(response, StatusCode::BAD_GATEWAY).await,
        "engine-failed"
    );
}

/// What the stand-in OpenAI server saw.
#[derive(Default)]
struct Seen {
    bodies: Vec<Value>,
}

/// The `[engines.openai]` table pointing at a [`fake_openai`] server.
fn openai_engine(base: &str) -> Value {
    json!({
        "base_url": base,
        "api_key": "sk-test",
        "model": "dall-e-2",
        "max_attempts": 1,
    })
}

async fn fake_openai() -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let recorded = seen.clone();
    let router = axum::Router::new().route(
        "/v1/images/generations",
        post(move |headers: HeaderMap, Json(body): Json<Value>| {
            let recorded = recorded.clone();
            async move {
                // The wire format of OpenAI's Images API.
                assert_eq!(headers["authorization"], "Bearer sk-test");
                assert!(body["prompt"].is_string(), "{body}");
                let n = body["n"].as_u64().unwrap();
                let size = body["size"].as_str().unwrap().to_owned();
                let (w, h) = size.split_once('x').unwrap();
                let data: Vec<Value> = (0..n)
                    .map(|i| {
                        json!({ "b64_json": STANDARD.encode(png(w.parse().unwrap(), h.parse().unwrap(), i as u8)) })
                    })
                    .collect();
                recorded.lock().unwrap().bodies.push(body);
                Json(json!({ "created": 1, "data": data }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (base, seen)
}

#[tokio::test]
async fn openai_engine_serves_text_to_image_and_the_seed_003_routes() {
    let (base, seen) = fake_openai().await;
    let app = TestApp::spawn_with(true, move |config| {
        config.engines.openai = Some(openai_engine(&base));
    })
    .await;

    // Seed 003: GET /imagegenApi?prompt= and POST /generate-image.
    let response = app.get("/imagegenApi?prompt=A%20beautiful%20sunset").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let filename = body["filename"].as_str().unwrap();
    assert!(
        filename.starts_with("img-") && filename.ends_with(".png"),
        "{body}"
    );
    assert_eq!(body["short_id"].as_str().unwrap().len(), 8);
    assert_eq!(body["message"], "Image generated with shortened filename");
    for key in ["short_url_1h", "short_url_24h"] {
        let url = body[key].as_str().unwrap();
        assert!(url.contains(filename), "{url}");
        let bytes = reqwest::get(url).await.unwrap().bytes().await.unwrap();
        let image = image::load_from_memory(&bytes).unwrap();
        assert_eq!((image.width(), image.height()), (1024, 1024));
    }
    let response = app
        .post_json("/generate-image", &json!({ "prompt": "mountains" }))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.bodies[0]["prompt"], "A beautiful sunset");
        assert_eq!(seen.bodies[0]["size"], "1024x1024");
        assert_eq!(seen.bodies[0]["n"], 1);
        assert_eq!(seen.bodies[1]["prompt"], "mountains");
    }

    // Native, with a style: the provider gets the styled prompt.
    let request = json!({
        "taskType": "TEXT_IMAGE",
        "textToImageParams": { "text": "a lighthouse" },
        "imageGenerationConfig": { "numberOfImages": 2, "width": 512, "height": 512 },
        "stylePreset": "oil-painting",
        "outputFormat": "jpeg",
    });
    let response = app.post_json("/v1/generations?wait=60", &request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let entry: Value = response.json().await.unwrap();
    assert_eq!(entry["engine"], "openai");
    assert_eq!(entry["prompt"], "a lighthouse");
    let images = entry["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    assert_eq!(images[0]["contentType"], "image/jpeg");
    let sent = seen.lock().unwrap().bodies[2].clone();
    assert!(
        sent["prompt"]
            .as_str()
            .unwrap()
            .starts_with("a lighthouse, oil painting on canvas"),
        "{sent}"
    );
    assert_eq!(sent["size"], "512x512");
    assert_eq!(sent["n"], 2);
}

#[tokio::test]
async fn openai_engine_edits_through_easels_own_openai_endpoint() {
    // Easel A serves the OpenAI Images API (classic engine behind it) to an API key.
    let provider = TestApp::spawn().await;
    let key: Value = provider
        .post_json("/v1/keys", &json!({ "name": "openai-client" }))
        .await
        .json()
        .await
        .unwrap();
    let api_key = key["key"].as_str().unwrap().to_owned();
    let base = format!("{}/v1", provider.base);
    // Easel B edits through its openai engine, pointed at A.
    let client = TestApp::spawn_with(true, move |config| {
        config.engines.classic = false;
        config.engines.openai = Some(json!({
            "base_url": base,
            "api_key": api_key,
            "model": "dall-e-2",
            "max_attempts": 1,
        }));
    })
    .await;
    let (image, body) = inpainting(48, 40);
    let response = client.post_json("/v1/generations?wait=60", &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let entry: Value = response.json().await.unwrap();
    assert_eq!(entry["engine"], "openai");
    let out = reqwest::get(entry["images"][0]["url"].as_str().unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let out = image::load_from_memory(&out).unwrap().to_rgba8();
    let input = image::load_from_memory(&image).unwrap().to_rgba8();
    assert_eq!(out.dimensions(), input.dimensions());
    for (x, y, pixel) in out.enumerate_pixels() {
        if !((10..30).contains(&x) && (10..30).contains(&y)) {
            assert_eq!(pixel, input.get_pixel(x, y), "{x},{y}");
        }
    }
    let log: Value = provider.get("/v1/requests").await.json().await.unwrap();
    assert_eq!(log["items"][0]["dialect"], "openai");
    assert_eq!(log["items"][0]["taskType"], "INPAINTING");
}

/// Bedrock's route takes `x-easel-engine` as a preference a client may set once for all
/// its requests: the named engine does the tasks it can, the others go to the first
/// engine that can; a name that is no engine here is refused.
#[tokio::test]
async fn bedrock_routes_engine_header_is_used_for_the_tasks_it_can_do() {
    let (base, seen) = fake_openai().await;
    let app = TestApp::spawn_with(true, move |config| {
        config.engines.order = vec!["openai".into(), "classic".into()];
        config.engines.openai = Some(openai_engine(&base));
    })
    .await;
    let invoke = |body: Value, engine: &'static str| {
        app.client
            .post(app.url("/model/amazon.titan-image-generator-v2%3A0/invoke"))
            .header("x-easel-engine", engine)
            .json(&body)
            .send()
    };
    let latest_engine = || async {
        let history: Value = app.get("/v1/history").await.json().await.unwrap();
        history["items"][0]["engine"].as_str().unwrap().to_owned()
    };
    // Inpainting: classic can, so classic does it (openai comes first in the order).
    let (_, body) = inpainting(48, 40);
    let response = invoke(body, "classic").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(latest_engine().await, "classic");
    assert!(seen.lock().unwrap().bodies.is_empty());
    // Text to image: classic cannot, so the first engine that can (openai) does.
    let text = json!({
        "taskType": "TEXT_IMAGE",
        "textToImageParams": { "text": "a lighthouse" },
    });
    let response = invoke(text.clone(), "classic").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let images: Value = response.json().await.unwrap();
    assert_eq!(images["images"].as_array().unwrap().len(), 1);
    assert_eq!(latest_engine().await, "openai");
    assert_eq!(seen.lock().unwrap().bodies.len(), 1);
    // An unknown engine is a ValidationException.
    let response = invoke(text, "no-such-engine").await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("no-such-engine"),
        "{error}"
    );
}
