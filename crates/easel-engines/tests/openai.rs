//! The `openai` engine against a local server standing in for the OpenAI Images API: it
//! checks the JSON and multipart bodies it receives (decoding the image and mask PNGs),
//! serves image URLs, and answers with scripted responses.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use easel_engines::request::{GenerationRequest, ModelFamily, parse};
use easel_engines::{
    Engine, EngineError, GeneratedImage, NoProgress, OpenAiEngine, OpenAiSettings,
};
use image::{Rgba, RgbaImage};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// A received call: path, headers, JSON body or multipart fields.
struct Seen {
    path: String,
    headers: HeaderMap,
    json: Option<Value>,
    fields: Vec<(String, Option<String>, Vec<u8>)>,
}

impl Seen {
    fn field(&self, name: &str) -> &[u8] {
        &self
            .fields
            .iter()
            .find(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("no field {name}"))
            .2
    }

    fn text(&self, name: &str) -> String {
        String::from_utf8(self.field(name).to_vec()).unwrap()
    }

    fn has(&self, name: &str) -> bool {
        self.fields.iter().any(|(n, _, _)| n == name)
    }
}

/// A scripted answer: status, extra headers, body.
type Reply = (u16, Vec<(&'static str, &'static str)>, String);

#[derive(Clone, Default)]
struct Fake {
    replies: Arc<Mutex<VecDeque<Reply>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    file: Arc<Mutex<Vec<u8>>>,
}

async fn answer(State(fake): State<Fake>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let headers = request.headers().clone();
    let multipart = headers
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap().starts_with("multipart/form-data"));
    let (mut json, mut fields) = (None, Vec::new());
    if multipart {
        let mut form = axum::extract::Multipart::from_request(request, &())
            .await
            .unwrap();
        while let Some(field) = form.next_field().await.unwrap() {
            let name = field.name().unwrap().to_owned();
            let file = field.file_name().map(str::to_owned);
            fields.push((name, file, field.bytes().await.unwrap().to_vec()));
        }
    } else {
        let body = Bytes::from_request(request, &()).await.unwrap();
        json = serde_json::from_slice(&body).ok();
    }
    fake.seen.lock().unwrap().push(Seen {
        path,
        headers,
        json,
        fields,
    });
    let Some((status, extra, body)) = fake.replies.lock().unwrap().pop_front() else {
        return (StatusCode::IM_A_TEAPOT, "no reply scripted").into_response();
    };
    let mut response = (StatusCode::from_u16(status).unwrap(), body).into_response();
    for (name, value) in extra {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
}

async fn serve_file(State(fake): State<Fake>) -> Response {
    let bytes = fake.file.lock().unwrap().clone();
    ([("content-type", "image/png")], bytes).into_response()
}

/// Starts the fake; returns its `/v1` base URL.
async fn fake_openai(replies: Vec<(u16, Value)>) -> (String, Fake) {
    let fake = Fake::default();
    fake.replies.lock().unwrap().extend(
        replies
            .into_iter()
            .map(|(s, b)| (s, Vec::new(), b.to_string())),
    );
    let app = Router::new()
        .route("/files/result.png", get(serve_file))
        .fallback(answer)
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, fake)
}

fn engine(base_url: &str, model: Option<&str>) -> OpenAiEngine {
    OpenAiEngine::new(OpenAiSettings {
        base_url: Some(base_url.to_owned()),
        api_key: Some("sk-test".into()),
        organization: Some("org-1".into()),
        model: model.map(str::to_owned),
        max_attempts: Some(3),
        backoff_base_ms: Some(1),
        backoff_max_ms: Some(50),
        ..OpenAiSettings::default()
    })
    .unwrap()
}

fn png(image: &RgbaImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn decode(bytes: &[u8]) -> RgbaImage {
    image::load_from_memory(bytes).unwrap().to_rgba8()
}

fn picture(w: u32, h: u32, seed: u8) -> RgbaImage {
    RgbaImage::from_fn(w, h, |x, y| {
        Rgba([(x * 3) as u8 ^ seed, (y * 5) as u8, seed, 255])
    })
}

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

fn b64_answer(images: &[&RgbaImage]) -> Value {
    let data: Vec<Value> = images
        .iter()
        .map(|i| json!({"b64_json": STANDARD.encode(png(i))}))
        .collect();
    json!({"created": 1, "data": data})
}

async fn run(
    engine: &OpenAiEngine,
    request: &GenerationRequest,
) -> Result<Vec<GeneratedImage>, EngineError> {
    engine
        .run(request, &NoProgress, &CancellationToken::new())
        .await
}

fn text_request(number: u32) -> GenerationRequest {
    parse(
        &json!({"taskType": "TEXT_IMAGE",
                "textToImageParams": {"text": "a fox in snow", "negativeText": "blur"},
                "imageGenerationConfig": {"numberOfImages": number, "quality": "premium",
                                          "width": 1152, "height": 768}}),
        ModelFamily::Titan,
    )
    .unwrap()
}

#[tokio::test]
async fn generations_send_json_and_decode_b64_answers() {
    let (a, b) = (picture(16, 16, 1), picture(16, 16, 2));
    let (url, fake) = fake_openai(vec![(200, b64_answer(&[&a, &b]))]).await;
    let images = run(&engine(&url, None), &text_request(2)).await.unwrap();
    assert_eq!(
        images.iter().map(|i| &i.pixels).collect::<Vec<_>>(),
        vec![&a, &b]
    );
    let seen = fake.seen.lock().unwrap();
    assert_eq!(seen[0].path, "/v1/images/generations");
    assert_eq!(seen[0].headers["authorization"], "Bearer sk-test");
    assert_eq!(seen[0].headers["openai-organization"], "org-1");
    // gpt-image-1: no response_format; the nearest size it offers; premium is "high".
    assert_eq!(
        seen[0].json.as_ref().unwrap(),
        &json!({"model": "gpt-image-1", "prompt": "a fox in snow\nAvoid: blur", "n": 2,
                "size": "1536x1024", "quality": "high"})
    );
}

#[tokio::test]
async fn dall_e_models_get_b64_json_asked_for_and_url_answers_are_downloaded() {
    let result = picture(32, 32, 9);
    let (url, fake) = fake_openai(Vec::new()).await;
    *fake.file.lock().unwrap() = png(&result);
    let file_url = format!("{}/files/result.png", url.trim_end_matches("/v1"));
    fake.replies.lock().unwrap().extend([
        (
            200,
            Vec::new(),
            json!({"data": [{"url": file_url}]}).to_string(),
        ),
        (
            200,
            Vec::new(),
            json!({"data": [{"url": file_url}]}).to_string(),
        ),
    ]);
    let images = run(&engine(&url, Some("dall-e-3")), &text_request(2))
        .await
        .unwrap();
    assert_eq!(images.len(), 2);
    assert!(images.iter().all(|i| i.pixels == result));
    let seen = fake.seen.lock().unwrap();
    // DALL·E 3 makes one image per call.
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].json.as_ref().unwrap(),
        &json!({"model": "dall-e-3", "prompt": "a fox in snow\nAvoid: blur", "n": 1,
                "size": "1792x1024", "quality": "hd", "response_format": "b64_json"})
    );
}

#[tokio::test]
async fn inpainting_sends_the_image_and_a_mask_transparent_where_titan_is_black() {
    let source = picture(64, 48, 4);
    let rect = (10, 5, 30, 40);
    let request = parse(
        &json!({"taskType": "INPAINTING",
                "inPaintingParams": {"image": STANDARD.encode(png(&source)),
                                     "maskImage": STANDARD.encode(png(&mask(64, 48, rect)))},
                "imageGenerationConfig": {"numberOfImages": 2}}),
        ModelFamily::Titan,
    )
    .unwrap();
    let result = picture(64, 48, 200);
    let (url, fake) = fake_openai(vec![(200, b64_answer(&[&result, &result]))]).await;
    let images = run(&engine(&url, Some("dall-e-2")), &request)
        .await
        .unwrap();
    assert_eq!(images.len(), 2);
    let seen = fake.seen.lock().unwrap();
    let call = &seen[0];
    assert_eq!(call.path, "/v1/images/edits");
    assert_eq!(
        call.text("prompt"),
        "Fill in the masked area to match the surroundings"
    );
    assert_eq!(call.text("model"), "dall-e-2");
    assert_eq!(call.text("n"), "2");
    assert_eq!(call.text("size"), "256x256");
    assert_eq!(call.text("response_format"), "b64_json");
    assert_eq!(decode(call.field("image")), source);
    let sent_mask = decode(call.field("mask"));
    assert_eq!(sent_mask.dimensions(), (64, 48));
    for (x, y, p) in sent_mask.enumerate_pixels() {
        let black = (rect.0..rect.2).contains(&x) && (rect.1..rect.3).contains(&y);
        assert_eq!(p.0[3], if black { 0 } else { 255 }, "alpha at {x},{y}");
    }
}

#[tokio::test]
async fn outpainting_centres_the_image_and_frees_all_but_the_kept_area() {
    let source = picture(40, 30, 6);
    let keep = (5, 5, 35, 25);
    let request = parse(
        &json!({"taskType": "OUTPAINTING",
                "outPaintingParams": {"image": STANDARD.encode(png(&source)), "text": "a meadow",
                                      "negativeText": "fences",
                                      "maskImage": STANDARD.encode(png(&mask(40, 30, keep)))},
                "imageGenerationConfig": {"width": 80, "height": 60}}),
        ModelFamily::Nova,
    )
    .unwrap();
    let (url, fake) = fake_openai(vec![(200, b64_answer(&[&picture(80, 60, 1)]))]).await;
    run(&engine(&url, None), &request).await.unwrap();
    let seen = fake.seen.lock().unwrap();
    let call = &seen[0];
    assert_eq!(call.text("prompt"), "a meadow\nAvoid: fences");
    assert!(!call.has("response_format"));
    let (canvas, sent_mask) = (decode(call.field("image")), decode(call.field("mask")));
    assert_eq!(canvas.dimensions(), (80, 60));
    let (ox, oy) = (20, 15);
    assert_eq!(canvas.get_pixel(ox + 3, oy + 4), source.get_pixel(3, 4));
    for (x, y, p) in sent_mask.enumerate_pixels() {
        let kept =
            (ox + keep.0..ox + keep.2).contains(&x) && (oy + keep.1..oy + keep.3).contains(&y);
        assert_eq!(p.0[3], if kept { 255 } else { 0 }, "alpha at {x},{y}");
    }
}

#[tokio::test]
async fn variations_send_the_first_image_to_the_variation_model() {
    let (first, second) = (picture(64, 64, 1), picture(64, 64, 2));
    let request = parse(
        &json!({"taskType": "IMAGE_VARIATION",
                "imageVariationParams": {"images": [STANDARD.encode(png(&first)), STANDARD.encode(png(&second))]},
                "imageGenerationConfig": {"width": 512, "height": 512}}),
        ModelFamily::Titan,
    )
    .unwrap();
    let (url, fake) = fake_openai(vec![(200, b64_answer(&[&picture(8, 8, 3)]))]).await;
    run(&engine(&url, None), &request).await.unwrap();
    let seen = fake.seen.lock().unwrap();
    assert_eq!(seen[0].path, "/v1/images/variations");
    assert_eq!(decode(seen[0].field("image")), first);
    assert_eq!(seen[0].text("model"), "dall-e-2");
    assert_eq!(seen[0].text("size"), "512x512");
    assert_eq!(seen[0].text("n"), "1");
}

fn error(code: &str, message: &str) -> Value {
    json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": code}})
}

#[tokio::test]
async fn errors_map_to_engine_errors_and_throttling_is_retried() {
    let ok = b64_answer(&[&picture(8, 8, 1)]);
    let (url, fake) = fake_openai(vec![
        (
            400,
            error(
                "content_policy_violation",
                "Your request was rejected by our safety system.",
            ),
        ),
        (400, error("invalid_size", "size must be one of …")),
        (401, error("invalid_api_key", "Incorrect API key provided")),
        (429, error("rate_limit_exceeded", "Rate limit reached")),
        (500, error("server_error", "The server had an error")),
        (200, ok),
        (503, error("", "overloaded")),
        (502, error("", "bad gateway")),
        (500, error("", "still failing")),
    ])
    .await;
    let engine = engine(&url, None);
    let request = text_request(1);
    assert_eq!(
        run(&engine, &request).await.unwrap_err(),
        EngineError::ContentFiltered("Your request was rejected by our safety system.".into())
    );
    assert_eq!(
        run(&engine, &request).await.unwrap_err(),
        EngineError::InvalidInput("size must be one of …".into())
    );
    let unauthorised = run(&engine, &request).await.unwrap_err();
    assert!(matches!(
        unauthorised,
        EngineError::Provider {
            status: Some(401),
            retryable: false,
            ..
        }
    ));
    assert_eq!(
        fake.seen.lock().unwrap().len(),
        3,
        "none of those is retried"
    );
    // 429, then 500, then success: three attempts.
    run(&engine, &request).await.unwrap();
    assert_eq!(fake.seen.lock().unwrap().len(), 6);
    let failed = run(&engine, &request).await.unwrap_err();
    assert!(
        matches!(&failed, EngineError::Provider { status: Some(500), retryable: true, message } if message.contains("still failing")),
        "{failed:?}"
    );
    assert_eq!(fake.seen.lock().unwrap().len(), 9);
}

#[tokio::test]
async fn retry_after_is_honoured_and_too_long_a_wait_is_not_attempted() {
    let (url, fake) = fake_openai(Vec::new()).await;
    let limited = error("rate_limit_exceeded", "Rate limit reached").to_string();
    fake.replies.lock().unwrap().extend([
        (429, vec![("retry-after-ms", "30")], limited.clone()),
        (
            200,
            Vec::new(),
            b64_answer(&[&picture(8, 8, 1)]).to_string(),
        ),
        (429, vec![("retry-after", "60")], limited),
    ]);
    let engine = engine(&url, None);
    let started = std::time::Instant::now();
    run(&engine, &text_request(1)).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(30));
    // 60 s is more than backoff_max_ms: reported as throttling at once.
    let error = run(&engine, &text_request(1)).await.unwrap_err();
    assert_eq!(error, EngineError::Throttled("Rate limit reached".into()));
    assert_eq!(fake.seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn tasks_openai_cannot_do_are_unsupported() {
    let (url, fake) = fake_openai(Vec::new()).await;
    let request = parse(
        &json!({"taskType": "BACKGROUND_REMOVAL",
                "backgroundRemovalParams": {"image": STANDARD.encode(png(&picture(16, 16, 1)))}}),
        ModelFamily::Titan,
    )
    .unwrap();
    let error = run(&engine(&url, None), &request).await.unwrap_err();
    assert!(
        matches!(error, EngineError::Unsupported { .. }),
        "{error:?}"
    );
    let prompt_mask = parse(
        &json!({"taskType": "INPAINTING",
                "inPaintingParams": {"image": STANDARD.encode(png(&picture(16, 16, 1))), "maskPrompt": "the cat"}}),
        ModelFamily::Titan,
    )
    .unwrap();
    let error = run(&engine(&url, None), &prompt_mask).await.unwrap_err();
    assert!(matches!(error, EngineError::InvalidInput(_)), "{error:?}");
    assert_eq!(fake.seen.lock().unwrap().len(), 0);
}
