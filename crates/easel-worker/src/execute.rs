//! What running one job means: `noop` does nothing, `generate` runs an engine (see
//! [`crate::generate`]), `process` runs the job's pipeline over
//! each source image and stores the outputs under keys derived from the job id and image
//! index, so a re-run overwrites its own earlier outputs and never duplicates them.

use std::sync::Arc;

use bytes::Bytes;
use easel_core::{
    Bucket, Detection, ImageFailure, ImageResult, JobKind, ModerationPolicy, ModerationSurface,
    ObjectKey, ObjectRef, OutputInfo, ProcessSpec,
};
use easel_image::{ImageError, Pipeline};
use easel_store::{Claim, StoreError};
use tokio::sync::Semaphore;

use crate::WorkerDeps;
use crate::outputs::{EncodedOutput, store_output};
use easel_moderation::{Reviewed, Reviewing};

/// Why a job did not complete.
#[derive(Debug, Clone, PartialEq)]
pub struct JobFailure {
    /// A stable kebab-case code for the job's `errorCode` (what dead jobs are listed and
    /// redriven by): an image's or engine's code, or `invalid-job`, `worker-error`,
    /// `storage-failed`.
    pub code: String,
    /// A message for the job's `error` field.
    pub message: String,
    /// Whether another attempt may succeed.
    pub retryable: bool,
    /// Results of the images that were done before the failure.
    pub results: Vec<ImageResult>,
}

impl JobFailure {
    /// The job itself cannot run (its stored request is unusable): no retry.
    pub(crate) fn permanent(message: String) -> Self {
        JobFailure {
            code: "invalid-job".to_owned(),
            message,
            retryable: false,
            results: Vec::new(),
        }
    }

    /// Something in the worker failed that may pass.
    pub(crate) fn transient(message: String) -> Self {
        JobFailure {
            code: "worker-error".to_owned(),
            message,
            retryable: true,
            results: Vec::new(),
        }
    }

    pub(crate) fn store(error: StoreError, results: Vec<ImageResult>) -> Self {
        JobFailure {
            code: "storage-failed".to_owned(),
            message: format!("storage failed: {error}"),
            retryable: error.is_transient(),
            results,
        }
    }
}

/// Runs a claimed job to the end and returns its per-image results. Image-level input
/// errors (a corrupt file) are reported in that image's result; the job fails only when
/// every image failed, or when storage fails (then it is retried).
pub async fn execute(
    claim: &Claim,
    deps: &WorkerDeps,
    budgets: &Budgets,
) -> Result<Vec<ImageResult>, JobFailure> {
    match claim.job.kind {
        JobKind::Noop => Ok(Vec::new()),
        JobKind::Process => process_job(claim, deps, budgets).await,
        JobKind::Generate => crate::generate::generate_job(claim, deps, &budgets.cpu).await,
        JobKind::Webhook => crate::webhook::deliver(claim, deps).await,
        JobKind::Email => crate::email::send(claim, deps).await,
    }
}

/// What bounds a worker process beyond its in-flight jobs: CPU work, and the source
/// images held in memory (read ahead of a CPU slot, so that reading overlaps the CPU
/// work of others). Jobs that hold neither (no-ops, provider calls) are bounded only
/// by the in-flight slots.
pub struct Budgets {
    /// Images decoded, transformed and encoded at once.
    pub cpu: Arc<Semaphore>,
    /// Source images read and not yet processed, at once.
    pub images: Arc<Semaphore>,
}

impl Budgets {
    /// `cpu_slots` images in CPU work, four times as many held in memory.
    pub fn new(cpu_slots: usize) -> Budgets {
        let cpu_slots = cpu_slots.max(1);
        Budgets {
            cpu: Arc::new(Semaphore::new(cpu_slots)),
            images: Arc::new(Semaphore::new(cpu_slots * 4)),
        }
    }
}

async fn process_job(
    claim: &Claim,
    deps: &WorkerDeps,
    budgets: &Budgets,
) -> Result<Vec<ImageResult>, JobFailure> {
    let spec: ProcessSpec = serde_json::from_value(claim.job.spec.clone())
        .map_err(|e| JobFailure::permanent(format!("the stored job spec is unreadable: {e}")))?;
    let pipeline: Pipeline = serde_json::from_value(spec.pipeline.clone())
        .map_err(|e| JobFailure::permanent(format!("the stored pipeline is unreadable: {e}")))?;
    let pipeline = Arc::new(pipeline);
    let mut results = Vec::with_capacity(spec.sources.len());
    for (index, source) in spec.sources.iter().enumerate() {
        let index = index as u32;
        let outcome = process_image(claim, deps, budgets, &pipeline, index, source).await;
        let result = match outcome {
            Ok((output, detections)) => ImageResult {
                index,
                source: Some(source.clone()),
                output: Some(output),
                detections,
                error: None,
            },
            Err(ImageStep::Input(failure)) => ImageResult {
                index,
                source: Some(source.clone()),
                output: None,
                detections: Vec::new(),
                error: Some(failure),
            },
            Err(ImageStep::Store(error)) => return Err(JobFailure::store(error, results)),
            Err(ImageStep::Transient(message)) => {
                return Err(JobFailure {
                    results,
                    ..JobFailure::transient(message)
                });
            }
        };
        results.push(result);
        // Progress is advisory: a lost lease is noticed by the heartbeat.
        if let Err(error) = deps
            .queue
            .progress(&claim.lease, index + 1, claim.job.image_count)
            .await
        {
            tracing::warn!(%error, "could not record progress");
        }
    }
    if let Some(first) = results.first().and_then(|r| r.error.clone())
        && results.iter().all(|r| r.error.is_some())
    {
        return Err(JobFailure {
            code: first.code,
            message: format!("every image failed; the first: {}", first.message),
            retryable: false,
            results,
        });
    }
    Ok(results)
}

/// Reviews a process output under the `outputs` policy: blocked outputs become this
/// image's `content-blocked` failure (nothing stored), blurred ones are encoded again.
async fn moderate_output(
    claim: &Claim,
    deps: &WorkerDeps,
    pipeline: &Arc<Pipeline>,
    index: u32,
    mut output: easel_image::Output,
) -> Result<easel_image::Output, ImageStep> {
    let Some(moderation) = &deps.moderation else {
        return Ok(output);
    };
    if moderation.outputs == ModerationPolicy::Off {
        return Ok(output);
    }
    let limits = deps.limits.clone();
    let bytes = std::mem::take(&mut output.bytes);
    let decoded = tokio::task::spawn_blocking(move || {
        easel_image::decode_rgba(&bytes, &limits).map(|(_, pixels)| (bytes, pixels))
    })
    .await
    .map_err(|e| ImageStep::Transient(format!("the moderation decode crashed: {e}")))?
    .map_err(|e| ImageStep::Transient(format!("the output cannot be read back: {e}")))?;
    let (bytes, pixels) = decoded;
    output.bytes = bytes;
    let what = Reviewing {
        surface: ModerationSurface::Outputs,
        owner: &claim.job.owner,
        subject: format!("job {} image {index}", claim.job.id),
    };
    match moderation.review(what, pixels).await {
        Ok(Reviewed::Store { blurred: false, .. }) => Ok(output),
        Ok(Reviewed::Store { pixels, .. }) => {
            let options = pipeline.output.clone();
            let format = output.format;
            output.bytes = tokio::task::spawn_blocking(move || {
                easel_image::encode_rgba(&pixels, format, &options)
            })
            .await
            .map_err(|e| ImageStep::Transient(format!("the moderation encode crashed: {e}")))?
            .map_err(|e| {
                ImageStep::Transient(format!("encoding the blurred output failed: {e}"))
            })?;
            Ok(output)
        }
        Ok(Reviewed::Blocked(_)) => Err(ImageStep::Input(ImageFailure {
            code: "content-blocked".to_owned(),
            message: "image moderation found content this deployment does not allow in the \
                      output; nothing was stored"
                .to_owned(),
        })),
        Err(unavailable) => Err(ImageStep::Transient(unavailable.to_string())),
    }
}

enum ImageStep {
    /// The image itself is at fault; retrying cannot help.
    Input(ImageFailure),
    /// Storage failed.
    Store(StoreError),
    /// Something else went wrong that may pass.
    Transient(String),
}

async fn process_image(
    claim: &Claim,
    deps: &WorkerDeps,
    budgets: &Budgets,
    pipeline: &Arc<Pipeline>,
    index: u32,
    source: &ObjectRef,
) -> Result<(OutputInfo, Vec<Detection>), ImageStep> {
    let shutting_down = || ImageStep::Transient("the worker is shutting down".to_owned());
    // Held until this image is written: bounds the sources in memory.
    let _held = budgets
        .images
        .acquire()
        .await
        .map_err(|_| shutting_down())?;
    let input: Bytes = match deps.blobs.get(source).await {
        Ok(bytes) => bytes,
        Err(StoreError::NotFound) => {
            return Err(ImageStep::Input(ImageFailure {
                code: "source-not-found".to_owned(),
                message: format!("{} no longer exists", source.s3_url()),
            }));
        }
        Err(other) => return Err(ImageStep::Store(other)),
    };
    let permit = budgets
        .cpu
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| shutting_down())?;
    let limits = deps.limits.clone();
    let running = pipeline.clone();
    let detector = deps.detector.clone();
    let processed = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        easel_image::process_with(&input, &running, &limits, detector.as_deref())
    })
    .await
    .map_err(|e| ImageStep::Transient(format!("the image task crashed: {e}")))?;
    let output = processed.map_err(|error: ImageError| {
        if error.is_retryable() {
            ImageStep::Transient(error.to_string())
        } else {
            ImageStep::Input(ImageFailure {
                code: error.code().to_owned(),
                message: error.to_string(),
            })
        }
    })?;
    let pixels = |b: [f32; 4]| b.map(|v| v.round().max(0.0) as u32);
    let output = moderate_output(claim, deps, pipeline, index, output).await?;
    let detections = output
        .detections
        .iter()
        .zip(&output.output_boxes)
        .map(|(d, placed)| Detection {
            label: d.label.clone(),
            confidence: d.confidence,
            bbox: pixels(d.bbox),
            output_bbox: placed.map(pixels),
        })
        .collect();
    let key = output_key(claim, index, source, output.format.extension());
    let object = ObjectRef {
        bucket: Bucket::Outputs,
        key,
    };
    let encoded = EncodedOutput {
        object,
        format: output.format,
        width: output.width,
        height: output.height,
        bytes: output.bytes,
        source: Some(source.clone()),
    };
    let info = store_output(claim, deps, encoded)
        .await
        .map_err(ImageStep::Store)?;
    Ok((info, detections))
}

/// `outputs/<job id>/<index>-<source stem>.<ext>`: stable across attempts.
fn output_key(claim: &Claim, index: u32, source: &ObjectRef, extension: &str) -> ObjectKey {
    let raw = format!(
        "outputs/{}/{index}-{}.{extension}",
        claim.job.id,
        source.key.file_stem()
    );
    // Every part is already a valid key fragment (a UUID, a number, a segment of a valid
    // key without its extension), so this cannot fail; fall back to the bare index anyway.
    ObjectKey::parse(&raw).unwrap_or_else(|_| {
        ObjectKey::parse(&format!("outputs/{}/{index}.{extension}", claim.job.id))
            .expect("a job id and a number form a valid key")
    })
}
