//! Running a `generate` job: parse the stored Bedrock-model body again (it was valid at
//! submission; parsing decodes its images), run the chosen engine with progress and
//! cancellation, moderate what it made (`easel-moderation`), encode each image with its
//! generation parameters embedded, store it as
//! `outputs/img-<hash>.<ext>`, and log the run in the request log (seed 000's execution
//! metadata: engine latency and output bytes).

use std::sync::Arc;
use std::time::Instant;

use easel_core::{
    Bucket, GenerateSpec, ImageFailure, ImageResult, ModerationSurface, ObjectKey, ObjectRef,
    OutputFormat, OutputInfo, now_millis,
};
use easel_engines::{Engine, EngineError, GeneratedImage, Progress, model_family, request};
use easel_image::{Format, OutputOptions};
use easel_store::{Claim, RequestRecord, StoreError};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;

use crate::WorkerDeps;
use crate::execute::JobFailure;
use crate::outputs::{EncodedOutput, store_output};
use easel_moderation::{Reviewed, Reviewing};

/// What a generation blocked by image moderation answers: the refusal wording Bedrock
/// uses for its content filters (clients match its start), naming the output.
pub const OUTPUT_FILTERED: &str = "This request has been blocked by our content filters. \
    Our filters automatically flagged the generated image(s) as potentially containing \
    inappropriate content, so none was kept. Please change your request and try again.";

/// Runs a claimed `generate` job; see the module docs.
pub async fn generate_job(
    claim: &Claim,
    deps: &WorkerDeps,
    cpu: &Arc<Semaphore>,
) -> Result<Vec<ImageResult>, JobFailure> {
    let spec: GenerateSpec = serde_json::from_value(claim.job.spec.clone()).map_err(|e| {
        JobFailure::permanent(format!("the stored generation spec is unreadable: {e}"))
    })?;
    let started = Instant::now();
    let outcome = run(claim, deps, cpu, &spec).await;
    let latency_ms = started.elapsed().as_millis() as u64;
    let (status, error_code, bytes, count) = match &outcome {
        Ok(results) => (
            "succeeded",
            None,
            results
                .iter()
                .filter_map(|r| r.output.as_ref())
                .map(|o| o.bytes)
                .sum(),
            results.len() as u32,
        ),
        Err(failure) => {
            let last_attempt = claim.lease.attempt >= claim.job.max_attempts;
            let status = if failure.retryable && !last_attempt {
                "retrying"
            } else {
                "failed"
            };
            let code = failure
                .results
                .iter()
                .find_map(|r| r.error.as_ref())
                .map(|e| e.code.clone());
            (status, code, 0, 0)
        }
    };
    let record = RequestRecord {
        id: uuid::Uuid::now_v7().to_string(),
        owner: claim.job.owner.clone(),
        at: now_millis(),
        dialect: spec.dialect.as_str().to_owned(),
        task_type: spec.task_type.as_str().to_owned(),
        prompt: spec.prompt.clone(),
        engine: spec.engine.clone(),
        model: spec.model.clone(),
        seed: Some(spec.seed),
        status: status.to_owned(),
        error_code,
        latency_ms: Some(latency_ms),
        output_bytes: bytes,
        image_count: count,
        job_id: Some(claim.job.id),
    };
    // The log is advisory: a failure to write it must not fail the generation.
    if let Err(error) = deps.request_log.log_request(&record).await {
        tracing::warn!(%error, "could not write the request log");
    }
    outcome
}

/// A failure reported both as the job's error and as a per-image result carrying the
/// engine's error code, so clients see `content-filtered`, `engine-throttled`, ….
fn engine_failure(error: &EngineError) -> JobFailure {
    JobFailure {
        code: error.code().as_str().to_owned(),
        message: error.to_string(),
        retryable: error.is_retryable(),
        results: vec![ImageResult {
            index: 0,
            source: None,
            output: None,
            detections: Vec::new(),
            error: Some(ImageFailure {
                code: error.code().as_str().to_owned(),
                message: error.to_string(),
            }),
        }],
    }
}

async fn run(
    claim: &Claim,
    deps: &WorkerDeps,
    cpu: &Arc<Semaphore>,
    spec: &GenerateSpec,
) -> Result<Vec<ImageResult>, JobFailure> {
    let family = model_family(&spec.model).ok_or_else(|| {
        JobFailure::permanent(format!("the model `{}` is not known here", spec.model))
    })?;
    let engine = deps.engines.get(&spec.engine).cloned().ok_or_else(|| {
        engine_failure(&EngineError::InvalidInput(format!(
            "the engine `{}` is not configured on this worker",
            spec.engine
        )))
    })?;
    let format = image_format(spec.output_format);
    // Parsing decodes the input images: CPU work, off the async workers.
    let body = spec.request.clone();
    let parsed = tokio::task::spawn_blocking(move || request::parse(&body, family))
        .await
        .map_err(|e| JobFailure::transient(format!("the parse task crashed: {e}")))?;
    let parsed = parsed.map_err(|violation| {
        engine_failure(&EngineError::InvalidInput(violation.bedrock_message()))
    })?;

    let images = run_engine(claim, deps, cpu, engine, &parsed).await?;
    let images = moderate(claim, deps, images).await?;
    let mut results = Vec::with_capacity(images.len());
    for (index, image) in images.into_iter().enumerate() {
        let index = index as u32;
        let output = store_image(claim, deps, spec, format, index, image)
            .await
            .map_err(|mut failure| {
                failure.results = results.clone();
                failure
            })?;
        results.push(ImageResult {
            index,
            source: None,
            output: Some(output),
            detections: Vec::new(),
            error: None,
        });
    }
    Ok(results)
}

/// Reviews every image under the `generations` policy before any is stored: one
/// blocked image blocks the whole generation (as a provider's output filter does).
async fn moderate(
    claim: &Claim,
    deps: &WorkerDeps,
    images: Vec<GeneratedImage>,
) -> Result<Vec<GeneratedImage>, JobFailure> {
    let Some(moderation) = &deps.moderation else {
        return Ok(images);
    };
    let mut kept = Vec::with_capacity(images.len());
    for (index, GeneratedImage { pixels, mask }) in images.into_iter().enumerate() {
        let what = Reviewing {
            surface: ModerationSurface::Generations,
            owner: &claim.job.owner,
            subject: format!("job {} image {index}", claim.job.id),
        };
        match moderation.review(what, pixels).await {
            Ok(Reviewed::Store { pixels, .. }) => kept.push(GeneratedImage { pixels, mask }),
            Ok(Reviewed::Blocked(_)) => {
                return Err(engine_failure(&EngineError::ContentFiltered(
                    OUTPUT_FILTERED.to_owned(),
                )));
            }
            Err(unavailable) => return Err(JobFailure::transient(unavailable.to_string())),
        }
    }
    Ok(kept)
}

/// The image engine's encoder for a generation's output format.
fn image_format(format: OutputFormat) -> Format {
    match format {
        OutputFormat::Png => Format::Png,
        OutputFormat::Jpeg => Format::Jpeg,
        OutputFormat::Webp => Format::Webp,
    }
}

/// Forwards an engine's step reports (done, total) to the job's progress.
struct JobProgress {
    sender: watch::Sender<(u32, u32)>,
}

impl Progress for JobProgress {
    fn report(&self, done: u32, total: u32) {
        self.sender.send_replace((done, total));
    }
}

async fn run_engine(
    claim: &Claim,
    deps: &WorkerDeps,
    cpu: &Arc<Semaphore>,
    engine: Arc<dyn Engine>,
    parsed: &request::GenerationRequest,
) -> Result<Vec<GeneratedImage>, JobFailure> {
    // Local engines compute on this machine: they take a CPU slot like image jobs do.
    let _permit = cpu
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| JobFailure::transient("the worker is shutting down".to_owned()))?;
    let (sender, mut receiver) = watch::channel((0u32, 0u32));
    let progress = JobProgress { sender };
    // When this attempt is abandoned (lease lost, shutdown grace over) the future is
    // dropped; the guard then cancels the engine so its threads stop too.
    let cancel = CancellationToken::new();
    let _stop_on_drop = cancel.clone().drop_guard();
    let forward = async {
        while receiver.changed().await.is_ok() {
            let (done, total) = *receiver.borrow_and_update();
            if let Err(error) = deps.queue.progress(&claim.lease, done, total).await {
                tracing::warn!(%error, "could not record progress");
            }
        }
    };
    let running = engine.run(parsed, &progress, &cancel);
    let outcome = tokio::select! {
        outcome = running => outcome,
        () = forward => unreachable!("the sender lives as long as the engine runs"),
    };
    let images = outcome.map_err(|error| engine_failure(&error))?;
    if images.is_empty() {
        return Err(engine_failure(&EngineError::Internal(
            "the engine returned no images".to_owned(),
        )));
    }
    Ok(images)
}

/// `img-<12 hex>`: a hash over the prompt, the job's creation time, the seed, the job
/// and the image index, so a retry of the same job writes the same keys (overwriting
/// its own earlier attempt), and `round` moves to a fresh name on a collision.
fn image_name(claim: &Claim, spec: &GenerateSpec, index: u32, round: u32) -> String {
    let mut hash = Sha256::new();
    hash.update(spec.prompt.as_deref().unwrap_or("").as_bytes());
    hash.update(claim.job.created_at.to_be_bytes());
    hash.update(spec.seed.to_be_bytes());
    hash.update(claim.job.id.to_string().as_bytes());
    hash.update(index.to_be_bytes());
    hash.update(round.to_be_bytes());
    let digest = hash.finalize();
    format!("img-{}", hex::encode(&digest[..6]))
}

async fn store_image(
    claim: &Claim,
    deps: &WorkerDeps,
    spec: &GenerateSpec,
    format: Format,
    index: u32,
    image: GeneratedImage,
) -> Result<OutputInfo, JobFailure> {
    let stored_failure = |error: StoreError| JobFailure::store(error, Vec::new());
    let mut round = 0;
    let object = loop {
        let name = image_name(claim, spec, index, round);
        let key = ObjectKey::parse(&format!("outputs/{name}.{}", format.extension()))
            .expect("a hex name and an extension form a valid key");
        let object = ObjectRef {
            bucket: Bucket::Outputs,
            key,
        };
        match deps
            .objects
            .get_object(&object)
            .await
            .map_err(stored_failure)?
        {
            Some(existing) if existing.job_id != Some(claim.job.id) => round += 1,
            _ => break object,
        }
    };
    let parameters = json!({
        "generator": concat!("Easel ", env!("CARGO_PKG_VERSION")),
        "taskType": spec.task_type,
        "prompt": spec.prompt,
        "negativePrompt": spec.negative_prompt,
        "stylePreset": spec.style_preset,
        "engine": spec.engine,
        "model": spec.model,
        "seed": spec.seed,
        "cfgScale": spec.cfg_scale,
        "quality": spec.quality,
        "width": image.pixels.width(),
        "height": image.pixels.height(),
        "jobId": claim.job.id.to_string(),
        "index": index,
    })
    .to_string();
    let options = OutputOptions {
        format: Some(format),
        quality: spec.output_quality,
        ..OutputOptions::default()
    };
    let (width, height) = image.pixels.dimensions();
    let pixels = image.pixels;
    let encoded = tokio::task::spawn_blocking(move || {
        easel_image::encode_rgba_with_parameters(&pixels, format, &options, &parameters)
    })
    .await
    .map_err(|e| JobFailure::transient(format!("the encode task crashed: {e}")))?
    .map_err(|e| {
        engine_failure(&EngineError::Internal(format!(
            "encoding the output failed: {e}"
        )))
    })?;
    let encoded = EncodedOutput {
        object,
        format,
        width,
        height,
        bytes: encoded,
        source: None,
    };
    store_output(claim, deps, encoded)
        .await
        .map_err(stored_failure)
}
