//! JSON views of jobs and results as clients see them, with fresh download URLs.

use std::collections::HashMap;

use easel_core::{ImageResult, JobKind, JobStatus, ObjectRef, rfc3339};
use easel_services::ServiceError;
use easel_store::{Job, UrlSigner};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

mod history;

pub use history::{HistoryEntry, history_entry};

/// Download links: both lifetimes that seed 003 returns.
pub const ONE_HOUR: i64 = 3_600;
/// See [`ONE_HOUR`].
pub const ONE_DAY: i64 = 86_400;

/// A job as the native API returns it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Job)]
pub struct JobView {
    /// The job's id (a UUIDv7, so ids sort by creation time).
    job_id: String,
    /// What the job does.
    kind: JobKind,
    /// Where it is in its lifecycle.
    status: JobStatus,
    /// How many source images (or images to generate).
    image_count: u32,
    /// Images finished so far.
    progress: u32,
    /// Finer progress when the worker reports it: a generation's denoising steps over
    /// all its images.
    #[serde(skip_serializing_if = "Option::is_none")]
    steps: Option<StepsView>,
    /// Attempts started so far.
    attempts: u32,
    /// Attempts allowed before the job fails for good.
    max_attempts: u32,
    /// The preset the pipeline came from, when one was named.
    #[serde(skip_serializing_if = "Option::is_none")]
    preset: Option<String>,
    /// The client's metadata, as given.
    metadata: Value,
    /// One entry per image.
    results: Vec<ResultView>,
    /// Why the job failed, when it did.
    error: Option<String>,
    /// The failure's stable code (`corrupt-image`, `engine-failed`, `lease-expired` …),
    /// what dead jobs are listed and redriven by.
    error_code: Option<String>,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339.
    updated_at: String,
}

/// Units of work done of the total.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepsView {
    /// Steps finished.
    done: u32,
    /// Steps in all.
    total: u32,
}

/// One image's result with download URLs.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = JobResult)]
pub struct ResultView {
    /// Position of the source in the job's sources (or of the generated image).
    index: u32,
    /// The source object (absent for generated images).
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<ObjectRef>,
    /// The output, absent until written or when this image failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<OutputView>,
    /// Objects detected in the image.
    detections: Vec<easel_core::Detection>,
    /// Why this image failed, when it did.
    error: Option<easel_core::ImageFailure>,
}

/// A stored output with its links.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = JobOutput)]
pub struct OutputView {
    /// Always `outputs`.
    bucket: String,
    /// The output's key.
    key: String,
    /// A presigned GET URL valid for one hour.
    download_url: String,
    /// A presigned GET URL valid for 24 hours.
    download_url_24h: String,
    /// When `downloadUrl` expires (RFC 3339).
    expires_at: String,
    /// When `downloadUrl24h` expires (RFC 3339).
    expires_at_24h: String,
    /// MIME type.
    content_type: String,
    /// `jpeg`, `png`, `webp`…
    format: String,
    /// Pixels.
    width: u32,
    /// Pixels.
    height: u32,
    /// Size in bytes.
    bytes: u64,
    /// Hex SHA-256 of the bytes.
    sha256: String,
}

/// A page of jobs, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobList {
    /// The jobs.
    pub jobs: Vec<JobView>,
    /// Pass as `?cursor=` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl JobView {
    /// Renders `job` with the download URLs of its outputs from `links`.
    pub fn new(job: &Job, links: &Links) -> Self {
        let spec = &job.spec;
        JobView {
            job_id: job.id.to_string(),
            kind: job.kind,
            status: job.status,
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
                .map(|r| ResultView::new(r, links))
                .collect(),
            error: job.error.clone(),
            error_code: job.error_code.clone(),
            created_at: rfc3339(job.created_at),
            updated_at: rfc3339(job.updated_at),
        }
    }
}

impl JobView {
    /// The per-image results alone (the seed's job status embeds them).
    pub fn into_results(self) -> Vec<ResultView> {
        self.results
    }
}

impl ResultView {
    fn new(result: &ImageResult, links: &Links) -> Self {
        ResultView {
            index: result.index,
            source: result.source.clone(),
            output: result.output.as_ref().map(|o| {
                let (url_1h, expires_1h) = links.url(&o.object, ONE_HOUR);
                let (url_24h, expires_24h) = links.url(&o.object, ONE_DAY);
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

/// Download URLs signed ahead (1 h and 24 h) for the objects a view shows: signing may
/// ask the store's credential provider, so it happens before the view is built.
#[derive(Debug, Default)]
pub struct Links {
    urls: HashMap<(ObjectRef, i64), (String, i64)>,
}

impl Links {
    /// Signs both lifetimes for every object.
    pub async fn sign(
        signer: &dyn UrlSigner,
        objects: &[ObjectRef],
    ) -> Result<Links, ServiceError> {
        let mut links = Links::default();
        for object in objects {
            for ttl in [ONE_HOUR, ONE_DAY] {
                if links.urls.contains_key(&(object.clone(), ttl)) {
                    continue;
                }
                let signed = signer
                    .download(object, ttl)
                    .await
                    .map_err(ServiceError::from)?;
                links
                    .urls
                    .insert((object.clone(), ttl), (signed.url, signed.expires));
            }
        }
        Ok(links)
    }

    /// Signs the outputs of `jobs` (read before the first await, so the future does not
    /// hold the iterator).
    pub fn for_jobs<'a>(
        signer: &'a dyn UrlSigner,
        jobs: impl IntoIterator<Item = &'a Job>,
    ) -> impl Future<Output = Result<Links, ServiceError>> + Send + 'a {
        let outputs: Vec<ObjectRef> = jobs
            .into_iter()
            .flat_map(|job| job.results.iter())
            .filter_map(|result| result.output.as_ref())
            .map(|output| output.object.clone())
            .collect();
        async move { Links::sign(signer, &outputs).await }
    }

    /// The URL for `object` valid for `ttl_secs` (`ONE_HOUR` or `ONE_DAY`) and its expiry,
    /// Unix seconds. Empty for an object that was not signed (a bug: every caller signs
    /// what it shows).
    pub fn url(&self, object: &ObjectRef, ttl_secs: i64) -> (String, i64) {
        match self.urls.get(&(object.clone(), ttl_secs)) {
            Some(found) => found.clone(),
            None => {
                tracing::error!(object = %object.s3_url(), "a view shows an object it did not sign");
                (String::new(), 0)
            }
        }
    }
}
