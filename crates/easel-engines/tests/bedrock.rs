//! The `bedrock` engine against a local server standing in for Bedrock: it checks the
//! exact path, body and headers it receives, verifies the SigV4 signature by computing it
//! again here from the AWS specification, and answers with scripted responses.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use easel_engines::request::{GenerationRequest, Mask, ModelFamily, Task, parse};
use easel_engines::{
    BedrockEngine, BedrockSettings, Engine, EngineError, Progress, to_bedrock_body,
};
use hmac::{Hmac, KeyInit, Mac};
use image::{Rgba, RgbaImage};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

const KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "session-token-example";
const TITAN_PATH: &str = "/model/amazon.titan-image-generator-v2%3A0/invoke";
const NOVA_PATH: &str = "/model/amazon.nova-canvas-v1%3A0/invoke";

/// A scripted answer.
#[derive(Clone)]
struct Reply {
    status: u16,
    error_type: Option<&'static str>,
    body: String,
    delay: Duration,
}

fn ok(body: Value) -> Reply {
    Reply {
        status: 200,
        error_type: None,
        body: body.to_string(),
        delay: Duration::ZERO,
    }
}

fn fail(status: u16, error_type: &'static str, message: &str) -> Reply {
    Reply {
        status,
        error_type: Some(error_type),
        body: json!({ "message": message }).to_string(),
        delay: Duration::ZERO,
    }
}

/// What the fake received.
struct Seen {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone, Default)]
struct Fake {
    replies: Arc<Mutex<VecDeque<Reply>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

async fn answer(
    State(fake): State<Fake>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fake.seen.lock().unwrap().push(Seen {
        method,
        path: uri.path().to_owned(),
        headers,
        body,
    });
    let Some(reply) = fake.replies.lock().unwrap().pop_front() else {
        return (StatusCode::IM_A_TEAPOT, "no reply scripted").into_response();
    };
    tokio::time::sleep(reply.delay).await;
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    if let Some(kind) = reply.error_type {
        let value = format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/");
        response
            .headers_mut()
            .insert("x-amzn-ErrorType", value.parse().unwrap());
    }
    response
}

/// Starts a fake on 127.0.0.1:0 with these replies; returns its base URL.
async fn fake_bedrock(replies: Vec<Reply>) -> (String, Fake) {
    let fake = Fake::default();
    fake.replies.lock().unwrap().extend(replies);
    let app = Router::new().fallback(answer).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, fake)
}

fn settings(endpoint: &str) -> BedrockSettings {
    BedrockSettings {
        endpoint: Some(endpoint.to_owned()),
        region: Some("us-west-2".into()),
        access_key_id: Some(KEY_ID.into()),
        secret_access_key: Some(SECRET.into()),
        session_token: Some(TOKEN.into()),
        max_attempts: Some(3),
        backoff_base_ms: Some(1),
        backoff_max_ms: Some(5),
        ..BedrockSettings::default()
    }
}

fn png(image: &RgbaImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn b64_png(image: &RgbaImage) -> String {
    STANDARD.encode(png(image))
}

fn picture(w: u32, h: u32, seed: u8) -> RgbaImage {
    RgbaImage::from_fn(w, h, |x, y| {
        Rgba([(x * 3) as u8 ^ seed, (y * 5) as u8, seed, 255])
    })
}

/// A mask image: black (masked) in the rectangle, white elsewhere.
fn mask(w: u32, h: u32, rect: (u32, u32, u32, u32)) -> RgbaImage {
    let (x0, y0, x1, y1) = rect;
    RgbaImage::from_fn(w, h, |x, y| {
        let v = if (x0..x1).contains(&x) && (y0..y1).contains(&y) {
            0
        } else {
            255
        };
        Rgba([v, v, v, 255])
    })
}

#[derive(Default)]
struct Recorder(Mutex<Vec<(u32, u32)>>);

impl Progress for Recorder {
    fn report(&self, done: u32, total: u32) {
        self.0.lock().unwrap().push((done, total));
    }
}

async fn run(
    engine: &BedrockEngine,
    request: &GenerationRequest,
) -> Result<Vec<easel_engines::GeneratedImage>, EngineError> {
    engine
        .run(request, &Recorder::default(), &CancellationToken::new())
        .await
}

// ---- SigV4, computed again from the specification ----

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// RFC 3986 encoding of everything but unreserved characters, upper-case hex.
fn uri_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Checks the `authorization` header of a received request against a signature
/// computed here: canonical request (each path segment encoded once more, as SigV4 does
/// for every service but S3), string to sign, derived key.
fn verify_sigv4(seen: &Seen, region: &str) {
    let header = |name: &str| {
        seen.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let authorization = header("authorization").expect("an authorization header");
    let rest = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .expect("the SigV4 algorithm");
    let part = |name: &str| {
        rest.split(", ")
            .find_map(|p| p.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in {authorization}"))
            .to_owned()
    };
    let amz_date = header("x-amz-date").expect("x-amz-date");
    let date = &amz_date[..8];
    let scope = format!("{date}/{region}/bedrock/aws4_request");
    assert_eq!(part("Credential"), format!("{KEY_ID}/{scope}"));
    let signed_headers = part("SignedHeaders");
    let names: Vec<&str> = signed_headers.split(';').collect();
    for required in [
        "accept",
        "content-type",
        "host",
        "x-amz-date",
        "x-amz-security-token",
    ] {
        assert!(
            names.contains(&required),
            "{required} not signed: {signed_headers}"
        );
    }
    let canonical_path = seen
        .path
        .split('/')
        .map(uri_encode)
        .collect::<Vec<_>>()
        .join("/");
    let canonical_headers: String = names
        .iter()
        .map(|n| format!("{n}:{}\n", header(n).unwrap().trim()))
        .collect();
    let canonical_request = format!(
        "{}\n{canonical_path}\n\n{canonical_headers}\n{signed_headers}\n{}",
        seen.method,
        hex::encode(Sha256::digest(&seen.body))
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{SECRET}").as_bytes(), date);
    for step in [region, "bedrock", "aws4_request"] {
        key = hmac(&key, step);
    }
    let expected = hex::encode(hmac(&key, &string_to_sign));
    assert_eq!(
        part("Signature"),
        expected,
        "canonical request:\n{canonical_request}"
    );
}

// ---- the tests ----

#[tokio::test]
async fn titan_text_image_is_sent_signed_in_bedrock_wire_format() {
    let red = RgbaImage::from_pixel(8, 8, Rgba([255, 0, 0, 255]));
    let blue = RgbaImage::from_pixel(8, 8, Rgba([0, 0, 255, 255]));
    let (url, fake) = fake_bedrock(vec![ok(
        json!({"images": [b64_png(&red), b64_png(&blue)], "error": null}),
    )])
    .await;
    let engine = BedrockEngine::new(settings(&url)).unwrap();
    let request = parse(
        &json!({
            "taskType": "TEXT_IMAGE",
            "textToImageParams": {"text": "a lighthouse at dusk", "negativeText": "people"},
            "imageGenerationConfig": {"numberOfImages": 2, "quality": "premium", "cfgScale": 7.1,
                                      "width": 768, "height": 1152, "seed": 42}
        }),
        ModelFamily::Titan,
    )
    .unwrap();
    let progress = Recorder::default();
    let images = engine
        .run(&request, &progress, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(images.len(), 2);
    assert_eq!(images[0].pixels, red);
    assert_eq!(images[1].pixels, blue);
    assert_eq!(*progress.0.lock().unwrap(), vec![(0, 1), (1, 1)]);

    let seen = fake.seen.lock().unwrap();
    let seen = &seen[0];
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.path, TITAN_PATH);
    assert_eq!(seen.headers["content-type"], "application/json");
    assert_eq!(seen.headers["accept"], "application/json");
    assert_eq!(seen.headers["x-amz-security-token"], TOKEN);
    let body: Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(
        body,
        json!({
            "taskType": "TEXT_IMAGE",
            "textToImageParams": {"text": "a lighthouse at dusk", "negativeText": "people"},
            "imageGenerationConfig": {"numberOfImages": 2, "quality": "premium", "cfgScale": 7.1,
                                      "width": 768, "height": 1152, "seed": 42}
        })
    );
    verify_sigv4(seen, "us-west-2");
}

#[tokio::test]
async fn a_tampered_request_fails_the_signature_check() {
    // The verifier above must be able to fail, or it proves nothing.
    let (url, fake) = fake_bedrock(vec![ok(json!({"images": [b64_png(&picture(4, 4, 1))]}))]).await;
    let engine = BedrockEngine::new(settings(&url)).unwrap();
    let request = parse(
        &json!({"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "x"},
                "imageGenerationConfig": {"width": 512, "height": 512}}),
        ModelFamily::Titan,
    )
    .unwrap();
    run(&engine, &request).await.unwrap();
    let mut seen = fake.seen.lock().unwrap().pop().unwrap();
    seen.body = Bytes::from_static(b"{}");
    let tampered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        verify_sigv4(&seen, "us-west-2")
    }));
    assert!(tampered.is_err());
}

#[tokio::test]
async fn nova_inpainting_with_a_bearer_key_sends_the_original_images() {
    let source = picture(64, 48, 7);
    let mask_b64 = b64_png(&mask(64, 48, (16, 8, 40, 30)));
    let source_b64 = b64_png(&source);
    let result = picture(64, 48, 99);
    let returned_mask = mask(64, 48, (16, 8, 40, 30));
    let (url, fake) = fake_bedrock(vec![ok(json!({
        "images": [b64_png(&result)], "maskImage": b64_png(&returned_mask), "error": null
    }))])
    .await;
    let engine = BedrockEngine::new(BedrockSettings {
        endpoint: Some(url),
        bearer_token: Some("bedrock-api-key-123".into()),
        ..BedrockSettings::default()
    })
    .unwrap();
    let request = parse(
        &json!({
            "taskType": "INPAINTING",
            "inPaintingParams": {"image": source_b64, "maskImage": mask_b64, "text": "a red door",
                                 "returnMask": true},
            "imageGenerationConfig": {"seed": 7, "cfgScale": 6.5}
        }),
        ModelFamily::Nova,
    )
    .unwrap();
    let images = run(&engine, &request).await.unwrap();
    assert_eq!(images[0].pixels, result);
    let got_mask = images[0].mask.as_ref().expect("the returned mask");
    assert_eq!(
        got_mask.get_pixel(20, 10).0[0],
        255,
        "inside the black area: generated"
    );
    assert_eq!(got_mask.get_pixel(2, 2).0[0], 0);

    let seen = fake.seen.lock().unwrap();
    assert_eq!(seen[0].path, NOVA_PATH);
    assert_eq!(
        seen[0].headers["authorization"],
        "Bearer bedrock-api-key-123"
    );
    assert!(seen[0].headers.get("x-amz-date").is_none());
    let body: Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(
        body,
        json!({
            "taskType": "INPAINTING",
            "inPaintingParams": {"image": source_b64, "maskImage": mask_b64, "text": "a red door",
                                 "returnMask": true},
            "imageGenerationConfig": {"numberOfImages": 1, "quality": "standard", "cfgScale": 6.5,
                                      "seed": 7}
        })
    );
}

#[test]
fn every_task_round_trips_through_the_bedrock_body() {
    let img = b64_png(&picture(64, 64, 3));
    let bodies = [
        json!({"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "t"},
               "imageGenerationConfig": {"width": 1024, "height": 1024, "seed": 1}}),
        json!({"taskType": "INPAINTING", "inPaintingParams": {"image": img, "maskPrompt": "the cat",
               "negativeText": "n"}, "imageGenerationConfig": {"seed": 2}}),
        json!({"taskType": "OUTPAINTING", "outPaintingParams": {"image": img, "text": "sea",
               "maskImage": b64_png(&mask(64, 64, (8, 8, 56, 56))), "outPaintingMode": "PRECISE"},
               "imageGenerationConfig": {"seed": 3, "quality": "premium"}}),
        json!({"taskType": "IMAGE_VARIATION", "imageVariationParams": {"images": [img, img],
               "similarityStrength": 0.9, "text": "v"}, "imageGenerationConfig": {"width": 512, "height": 512, "seed": 4}}),
        json!({"taskType": "BACKGROUND_REMOVAL", "backgroundRemovalParams": {"image": img}}),
        json!({"taskType": "COLOR_GUIDED_GENERATION", "colorGuidedGenerationParams": {"text": "c",
               "colors": ["#FF9800", "#00aa11"], "referenceImage": img},
               "imageGenerationConfig": {"width": 512, "height": 512, "seed": 5, "numberOfImages": 3}}),
    ];
    for family in [ModelFamily::Titan, ModelFamily::Nova] {
        for body in &bodies {
            let request = parse(body, family).unwrap();
            let rebuilt = to_bedrock_body(&request);
            let mut again = parse(&rebuilt, family).unwrap_or_else(|v| panic!("{v} in {rebuilt}"));
            if matches!(request.task, Task::BackgroundRemoval { .. }) {
                // No config is sent for it, so the seed is drawn afresh.
                again.config.seed = request.config.seed;
            }
            assert_eq!(again, request, "{rebuilt}");
        }
    }
    let colors = to_bedrock_body(&parse(&bodies[5], ModelFamily::Nova).unwrap());
    assert_eq!(
        colors["colorGuidedGenerationParams"]["colors"],
        json!(["#ff9800", "#00aa11"])
    );
    assert!(
        to_bedrock_body(&parse(&bodies[4], ModelFamily::Titan).unwrap())
            .get("imageGenerationConfig")
            .is_none()
    );
}

#[test]
fn outpainting_onto_a_larger_canvas_is_padded_for_bedrock() {
    let source = picture(64, 48, 5);
    let body = json!({"taskType": "OUTPAINTING", "outPaintingParams": {"image": b64_png(&source),
        "text": "beach", "maskImage": b64_png(&mask(64, 48, (0, 0, 64, 48)))},
        "imageGenerationConfig": {"width": 128, "height": 96, "seed": 9}});
    let request = parse(&body, ModelFamily::Nova).unwrap();
    let rebuilt = to_bedrock_body(&request);
    assert!(rebuilt["imageGenerationConfig"].get("width").is_none());
    let again = parse(&rebuilt, ModelFamily::Nova).unwrap();
    assert_eq!((again.config.width, again.config.height), (128, 96));
    let Task::Outpainting { image, mask, .. } = &again.task else {
        panic!("outpainting")
    };
    assert_eq!(image.pixels.dimensions(), (128, 96));
    assert_eq!(
        image.pixels.get_pixel(32 + 10, 24 + 10),
        source.get_pixel(10, 10)
    );
    assert_eq!(
        image.pixels.get_pixel(0, 0).0[3],
        255,
        "no transparent padding"
    );
    let Mask::Image { masked, .. } = mask else {
        panic!("mask image")
    };
    // Kept (black) exactly where the image was.
    for (x, y, p) in masked.enumerate_pixels() {
        let inside = (32..96).contains(&x) && (24..72).contains(&y);
        assert_eq!(p.0[0] != 0, inside, "at {x},{y}");
    }
}

#[tokio::test]
async fn throttling_is_retried_until_it_succeeds() {
    let (url, fake) = fake_bedrock(vec![
        fail(
            429,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
        ),
        fail(
            429,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
        ),
        ok(json!({"images": [b64_png(&picture(4, 4, 1))]})),
    ])
    .await;
    let engine = BedrockEngine::new(settings(&url)).unwrap();
    let request = parse(
        &json!({"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "x"}}),
        ModelFamily::Nova,
    )
    .unwrap();
    let images = run(&engine, &request).await.unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(fake.count(), 3);
    // Every attempt is signed afresh and verifies.
    for seen in fake.seen.lock().unwrap().iter() {
        verify_sigv4(seen, "us-west-2");
    }
}

#[tokio::test]
async fn server_errors_that_persist_end_as_a_retryable_provider_error() {
    let (url, fake) = fake_bedrock(vec![
        fail(500, "InternalServerException", "boom"),
        fail(503, "ServiceUnavailableException", "busy"),
        fail(500, "InternalServerException", "boom again"),
        ok(json!({"images": []})),
    ])
    .await;
    let engine = BedrockEngine::new(settings(&url)).unwrap();
    let request = parse(
        &json!({"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "x"}}),
        ModelFamily::Nova,
    )
    .unwrap();
    let error = run(&engine, &request).await.unwrap_err();
    assert!(
        matches!(error, EngineError::Provider { status: Some(500), retryable: true, ref message } if message.contains("boom again")),
        "{error:?}"
    );
    assert_eq!(fake.count(), 3);
}

#[tokio::test]
async fn validation_errors_and_content_filters_are_told_apart() {
    let filter = "This request has been blocked by our content filters. Please adjust your text prompt to submit a new request.";
    let (url, fake) = fake_bedrock(vec![
        fail(400, "ValidationException", "Malformed input request: #/imageGenerationConfig/width: 100 is not a valid value"),
        fail(400, "ValidationException", filter),
        ok(json!({"images": [], "error": "All of the generated images have been blocked by our content filters."})),
        fail(403, "AccessDeniedException", "You don't have access to the model with the specified model ID."),
    ])
    .await;
    let engine = BedrockEngine::new(settings(&url)).unwrap();
    let request = parse(
        &json!({"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "x"}}),
        ModelFamily::Nova,
    )
    .unwrap();
    assert_eq!(
        run(&engine, &request).await.unwrap_err(),
        EngineError::InvalidInput(
            "Malformed input request: #/imageGenerationConfig/width: 100 is not a valid value"
                .into()
        )
    );
    assert_eq!(
        run(&engine, &request).await.unwrap_err(),
        EngineError::ContentFiltered(filter.into())
    );
    assert!(
        matches!(run(&engine, &request).await.unwrap_err(), EngineError::ContentFiltered(m) if m.starts_with("All of"))
    );
    let denied = run(&engine, &request).await.unwrap_err();
    assert!(
        matches!(&denied, EngineError::Provider { status: Some(403), retryable: false, message } if message.contains("us-west-2") && message.contains("model access")),
        "{denied:?}"
    );
    assert_eq!(fake.count(), 4, "none of these is retried");
}

#[tokio::test]
async fn cancelling_a_slow_request_returns_promptly() {
    let mut slow = ok(json!({"images": [b64_png(&picture(4, 4, 1))]}));
    slow.delay = Duration::from_secs(20);
    let (url, _fake) = fake_bedrock(vec![slow]).await;
    let engine = BedrockEngine::new(settings(&url)).unwrap();
    let request = parse(
        &json!({"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "x"}}),
        ModelFamily::Nova,
    )
    .unwrap();
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let error = engine
        .run(&request, &Recorder::default(), &cancel)
        .await
        .unwrap_err();
    assert_eq!(error, EngineError::Cancelled);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn cancelling_during_a_backoff_returns_promptly() {
    let (url, fake) = fake_bedrock(vec![fail(429, "ThrottlingException", "slow down")]).await;
    let engine = BedrockEngine::new(BedrockSettings {
        backoff_base_ms: Some(20_000),
        backoff_max_ms: Some(20_000),
        ..settings(&url)
    })
    .unwrap();
    let request = parse(
        &json!({"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "x"}}),
        ModelFamily::Nova,
    )
    .unwrap();
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let error = engine
        .run(&request, &Recorder::default(), &cancel)
        .await
        .unwrap_err();
    assert_eq!(error, EngineError::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(fake.count(), 1);
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_retryable_error_after_the_attempts() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let engine = BedrockEngine::new(settings(&url)).unwrap();
    let request = parse(
        &json!({"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "x"}}),
        ModelFamily::Nova,
    )
    .unwrap();
    let error = run(&engine, &request).await.unwrap_err();
    assert!(
        matches!(
            error,
            EngineError::Provider {
                status: None,
                retryable: true,
                ..
            }
        ),
        "{error:?}"
    );
}
