//! The seeds' generation and editing routes. Seed 003: `GET /imagegenApi?prompt=` and
//! `POST /generate-image {"prompt"}` generate one 1024×1024 Titan image exactly as its
//! Lambda asked Bedrock, and answer with its body (`short_url_1h`, `short_url_24h`,
//! `filename` like `img-a1b2c3.png`, `short_id`, `message`, `note`). Seed 000:
//! `POST /edit-image {"image","mask","prompt","mode"}` (base64 image and mask, mode
//! `inpainting` or `outpainting`) answers with the edited image, the request id, and the
//! execution metadata the seed logged (engine latency, output size).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::extract::{JsonBody, QueryParams};
use crate::generation::{self, Dialect, GenError, GenerationInput};
use crate::routes::{Access, Routes};
use crate::views::{ONE_DAY, ONE_HOUR, download_url};
use crate::{ApiError, AppState};

pub fn routes() -> Routes {
    Routes::new()
        .add(
            "/imagegenApi",
            Access::Authenticated,
            &["GET"],
            get(imagegen_api),
        )
        .add(
            "/generate-image",
            Access::Authenticated,
            &["POST"],
            post(generate_image),
        )
        .add(
            "/edit-image",
            Access::Authenticated,
            &["POST"],
            post(edit_image),
        )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PromptQuery {
    prompt: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PromptBody {
    prompt: String,
}

async fn imagegen_api(
    State(state): State<AppState>,
    Caller(caller): Caller,
    QueryParams(query): QueryParams<PromptQuery>,
) -> Result<Json<Value>, ApiError> {
    generate(&state, &caller, query.prompt).await
}

async fn generate_image(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<PromptBody>,
) -> Result<Json<Value>, ApiError> {
    generate(&state, &caller, body.prompt).await
}

/// Runs a generation to the end, as the synchronous seed routes do.
async fn run(
    state: &AppState,
    caller: &easel_core::Principal,
    body: Value,
) -> Result<easel_store::Job, ApiError> {
    let input = GenerationInput {
        body,
        model: Some(easel_engines::TITAN_IMAGE_V2.to_owned()),
        engine: None,
        output_format: Some("png".to_owned()),
        output_quality: None,
        style: None,
        dialect: Dialect::Seed,
        idempotency_key: None,
    };
    let job = generation::submit(state, caller, input)
        .await
        .map_err(GenError::into_api)?;
    let wait = Duration::from_secs(state.generation.max_wait_secs);
    let job = generation::wait_for(state, job.id, wait)
        .await
        .map_err(GenError::into_api)?;
    generation::finished(&job).map_err(GenError::into_api)?;
    Ok(job)
}

async fn generate(
    state: &AppState,
    caller: &easel_core::Principal,
    prompt: String,
) -> Result<Json<Value>, ApiError> {
    // Seed 003's request body, verbatim but for the prompt.
    let body = json!({
        "taskType": "TEXT_IMAGE",
        "textToImageParams": { "text": prompt },
        "imageGenerationConfig": {
            "numberOfImages": 1,
            "quality": "standard",
            "cfgScale": 8.0,
            "height": 1024,
            "width": 1024,
            "seed": 0
        }
    });
    let job = run(state, caller, body).await?;
    let output = job
        .results
        .iter()
        .find_map(|r| r.output.as_ref())
        .ok_or_else(|| ApiError::internal("a completed generation without an output"))?;
    let (url_1h, _) = download_url(&state.presigner, &output.object, ONE_HOUR);
    let (url_24h, _) = download_url(&state.presigner, &output.object, ONE_DAY);
    let short_id = hex::encode(&Sha256::digest(job.id.to_string().as_bytes())[..4]);
    Ok(Json(json!({
        "short_url_1h": url_1h,
        "short_url_24h": url_24h,
        "filename": output.object.key.file_name(),
        "short_id": short_id,
        "message": "Image generated with shortened filename",
        "note": "URLs are much shorter due to compact filename",
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EditRequest {
    /// Base64 PNG or JPEG.
    image: String,
    /// Base64 mask: black = the area to change (inpainting) or keep (outpainting).
    mask: String,
    /// What to put there.
    prompt: String,
    /// `inpainting` or `outpainting`.
    #[serde(default = "inpainting")]
    mode: String,
}

fn inpainting() -> String {
    "inpainting".to_owned()
}

async fn edit_image(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(request): JsonBody<EditRequest>,
) -> Result<Json<Value>, ApiError> {
    let (task, params_key) = match request.mode.as_str() {
        "inpainting" => ("INPAINTING", "inPaintingParams"),
        "outpainting" => ("OUTPAINTING", "outPaintingParams"),
        other => {
            return Err(ApiError::bad_request(
                "invalid-mode",
                format!("mode `{other}` is not `inpainting` or `outpainting`"),
            ));
        }
    };
    let body = json!({
        "taskType": task,
        params_key: {
            "image": request.image,
            "maskImage": request.mask,
            "text": request.prompt,
        },
        "imageGenerationConfig": { "numberOfImages": 1 }
    });
    let job = run(&state, &caller, body).await?;
    let images = generation::output_bytes(&state, &job)
        .await
        .map_err(GenError::into_api)?;
    let image = images
        .first()
        .ok_or_else(|| ApiError::internal("a completed edit without an output"))?;
    let record = state
        .request_log
        .list_requests(Some(&job.owner), None, 20)
        .await?
        .into_iter()
        .find(|r| r.job_id == Some(job.id));
    Ok(Json(json!({
        "requestId": job.id.to_string(),
        "image": STANDARD.encode(image),
        "mode": request.mode,
        "executionTimeMs": record.as_ref().and_then(|r| r.latency_ms),
        "outputSizeBytes": image.len(),
        "engine": record.as_ref().map(|r| r.engine.clone()),
    })))
}
