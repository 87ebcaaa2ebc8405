//! JSON views of jobs and results as clients see them, with fresh download URLs.

use easel_core::{ImageResult, JobKind, ObjectRef, now_millis, rfc3339};
use easel_store::{Job, Presigner, SignedRequest};
use serde::Serialize;
use serde_json::Value;

/// Download links: both lifetimes that seed 003 returns.
pub const ONE_HOUR: i64 = 3_600;
/// See [`ONE_HOUR`].
pub const ONE_DAY: i64 = 86_400;

/// A job as the native API returns it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    job_id: String,
    kind: &'static str,
    status: &'static str,
    image_count: u32,
    /// Images finished.
    progress: u32,
    /// Finer progress when the worker reports it: a generation's denoising steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    steps: Option<StepsView>,
    attempts: u32,
    max_attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    preset: Option<String>,
    metadata: Value,
    results: Vec<ResultView>,
    error: Option<String>,
    created_at: String,
    updated_at: String,
}

/// Units of work done of the total.
#[derive(Debug, Serialize)]
pub struct StepsView {
    done: u32,
    total: u32,
}

/// One image's result with download URLs.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultView {
    index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<ObjectRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<OutputView>,
    detections: Vec<easel_core::Detection>,
    error: Option<easel_core::ImageFailure>,
}

/// A stored output with its links.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputView {
    bucket: String,
    key: String,
    download_url: String,
    download_url_24h: String,
    expires_at: String,
    expires_at_24h: String,
    content_type: String,
    format: String,
    width: u32,
    height: u32,
    bytes: u64,
    sha256: String,
}

impl JobView {
    /// Renders `job`, signing download URLs for its outputs.
    pub fn new(job: &Job, presigner: &Presigner) -> Self {
        let spec = &job.spec;
        JobView {
            job_id: job.id.to_string(),
            kind: job.kind.as_str(),
            status: job.status.as_str(),
            image_count: job.image_count,
            // Units finished scaled to images: with steps, images completed so far.
            progress: if job.progress_total > 0 {
                (u64::from(job.progress) * u64::from(job.image_count)
                    / u64::from(job.progress_total)) as u32
            } else {
                job.progress
            },
            steps: (job.progress_total > 0 && job.kind == JobKind::Generate).then_some(StepsView {
                done: job.progress,
                total: job.progress_total,
            }),
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            preset: spec
                .get("preset")
                .and_then(Value::as_str)
                .map(str::to_owned),
            metadata: spec.get("metadata").cloned().unwrap_or(Value::Null),
            results: job
                .results
                .iter()
                .map(|r| ResultView::new(r, presigner))
                .collect(),
            error: job.error.clone(),
            created_at: rfc3339(job.created_at),
            updated_at: rfc3339(job.updated_at),
        }
    }
}

impl ResultView {
    fn new(result: &ImageResult, presigner: &Presigner) -> Self {
        ResultView {
            index: result.index,
            source: result.source.clone(),
            output: result.output.as_ref().map(|o| {
                let (url_1h, expires_1h) = download_url(presigner, &o.object, ONE_HOUR);
                let (url_24h, expires_24h) = download_url(presigner, &o.object, ONE_DAY);
                OutputView {
                    bucket: o.object.bucket.to_string(),
                    key: o.object.key.to_string(),
                    download_url: url_1h,
                    download_url_24h: url_24h,
                    expires_at: rfc3339(expires_1h * 1000),
                    expires_at_24h: rfc3339(expires_24h * 1000),
                    content_type: o.content_type.clone(),
                    format: o.format.clone(),
                    width: o.width,
                    height: o.height,
                    bytes: o.bytes,
                    sha256: o.sha256.clone(),
                }
            }),
            detections: result.detections.clone(),
            error: result.error.clone(),
        }
    }
}

/// A GET URL for `object` valid for `ttl_secs`, and its expiry (Unix seconds).
pub fn download_url(presigner: &Presigner, object: &ObjectRef, ttl_secs: i64) -> (String, i64) {
    let signed = presigner.sign(&SignedRequest {
        method: "GET".to_owned(),
        object: object.clone(),
        expires: now_millis() / 1000 + ttl_secs,
        upload: None,
    });
    (signed.url, signed.expires)
}
