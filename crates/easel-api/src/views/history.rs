//! The history entry view: a generation or edit as the native API shows it (`POST
//! /v1/generations`, `GET /v1/history…`), with fresh 1-hour and 24-hour links.

use easel_core::{GenerateSpec, JobStatus, rfc3339};
use easel_services::generation::{GenError, finished};
use easel_store::Job;
use serde::Serialize;
use utoipa::ToSchema;

use crate::views::{Links, ONE_DAY, ONE_HOUR};

/// A generation or edit with its parameters and images.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// The entry's id (its job's id).
    pub id: String,
    /// `PENDING`, `RUNNING`, `COMPLETED`, `FAILED` or `CANCELLED`.
    pub status: JobStatus,
    /// `TEXT_IMAGE`, `INPAINTING`, …
    #[schema(value_type = String)]
    pub task_type: &'static str,
    /// `generate` or `edit` (the quota class it counted against).
    #[schema(value_type = String)]
    pub operation: &'static str,
    /// The user's prompt (without the style's additions).
    pub prompt: Option<String>,
    pub negative_prompt: Option<String>,
    pub style_preset: Option<String>,
    /// The engine that runs it.
    pub engine: String,
    /// The model whose request rules applied.
    pub model: String,
    /// The seed used (a random one when the request gave none).
    pub seed: u32,
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
    pub number_of_images: u32,
    pub cfg_scale: f32,
    /// `standard` or `premium`.
    #[schema(value_type = String)]
    pub quality: &'static str,
    /// `png`, `jpeg` or `webp`.
    #[schema(value_type = String)]
    pub output_format: &'static str,
    /// Images finished so far.
    pub progress: u32,
    /// The images, once written.
    pub images: Vec<HistoryImage>,
    /// Why it failed, when it did (the codes of the native error shape).
    pub error: Option<HistoryError>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// When the entry and its images are deleted (RFC 3339); `null`: kept.
    pub expires_at: Option<String>,
}

/// One generated image.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryImage {
    /// The key in the `outputs` bucket (`img-<hash>.<ext>`).
    pub key: String,
    /// Always `outputs`.
    pub bucket: String,
    /// The key's file name.
    pub filename: String,
    /// Presigned GET, one hour.
    pub url: String,
    /// Presigned GET, 24 hours.
    pub url24h: String,
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
    pub format: String,
    pub content_type: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// A failed entry's error.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryError {
    /// A stable kebab-case code (`content-filtered`, `engine-failed`, …).
    pub code: String,
    pub message: String,
}

/// A history entry as the native API shows it, with fresh download URLs.
pub fn history_entry(links: &Links, job: &Job, spec: &GenerateSpec) -> HistoryEntry {
    let images = job
        .results
        .iter()
        .filter_map(|r| r.output.as_ref())
        .map(|o| HistoryImage {
            key: o.object.key.as_str().to_owned(),
            bucket: o.object.bucket.as_str().to_owned(),
            filename: o.object.key.file_name().to_owned(),
            url: links.url(&o.object, ONE_HOUR).0,
            url24h: links.url(&o.object, ONE_DAY).0,
            width: o.width,
            height: o.height,
            format: o.format.clone(),
            content_type: o.content_type.clone(),
            bytes: o.bytes,
        })
        .collect();
    let error = match finished(job) {
        Ok(()) | Err(GenError::Timeout(_)) => None,
        Err(failure) => {
            let failure = failure.into_service();
            Some(HistoryError {
                code: failure.code().to_owned(),
                message: failure.message().to_owned(),
            })
        }
    };
    HistoryEntry {
        id: job.id.to_string(),
        status: job.status,
        task_type: spec.task_type.as_str(),
        operation: spec.operation.as_str(),
        prompt: spec.prompt.clone(),
        negative_prompt: spec.negative_prompt.clone(),
        style_preset: spec.style_preset.clone(),
        engine: spec.engine.clone(),
        model: spec.model.clone(),
        seed: spec.seed,
        width: spec.width,
        height: spec.height,
        number_of_images: spec.number_of_images,
        cfg_scale: spec.cfg_scale,
        quality: spec.quality.as_str(),
        output_format: spec.output_format.as_str(),
        progress: job.progress,
        images,
        error,
        created_at: rfc3339(job.created_at),
        updated_at: rfc3339(job.updated_at),
        expires_at: job.expires_at.map(rfc3339),
    }
}
