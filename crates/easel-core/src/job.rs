//! The job vocabulary: kinds, states and the per-image results a job reports.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Bucket, ObjectKey};

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// Runs an image pipeline over source objects.
    Process,
    /// Does nothing: a probe of the queue itself (health checks, benchmarks).
    Noop,
    /// Generates or edits images with an engine ([`GenerateSpec`]).
    Generate,
    /// Delivers a webhook about another job's end ([`WebhookSpec`]).
    Webhook,
    /// Sends an e-mail ([`EmailSpec`]).
    Email,
}

impl JobKind {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Process => "process",
            JobKind::Noop => "noop",
            JobKind::Generate => "generate",
            JobKind::Webhook => "webhook",
            JobKind::Email => "email",
        }
    }
}

impl FromStr for JobKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "process" => Ok(JobKind::Process),
            "noop" => Ok(JobKind::Noop),
            "generate" => Ok(JobKind::Generate),
            "webhook" => Ok(JobKind::Webhook),
            "email" => Ok(JobKind::Email),
            other => Err(format!("unknown job kind `{other}`")),
        }
    }
}

/// A job's lifecycle state, as clients see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum JobStatus {
    /// Waiting in the queue (also between retries).
    Pending,
    /// Claimed by a worker.
    Running,
    /// Finished; results are available.
    Completed,
    /// Gave up: a permanent error, or `max_attempts` used (the dead-letter state).
    Failed,
    /// Cancelled by its owner before it ran.
    Cancelled,
}

impl JobStatus {
    /// Every state, in lifecycle order.
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Pending,
        JobStatus::Running,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    /// The name stored in the database and shown to clients.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "PENDING",
            JobStatus::Running => "RUNNING",
            JobStatus::Completed => "COMPLETED",
            JobStatus::Failed => "FAILED",
            JobStatus::Cancelled => "CANCELLED",
        }
    }

    /// Whether the job will never change again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobStatus::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!(
                    "unknown status `{s}`: expected one of PENDING, RUNNING, COMPLETED, FAILED, CANCELLED"
                )
            })
    }
}

/// A reference to a stored object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub struct ObjectRef {
    /// The bucket holding the object.
    pub bucket: Bucket,
    /// The object's key within the bucket.
    pub key: ObjectKey,
}

impl ObjectRef {
    /// The `s3://bucket/key` form the seed routes use.
    pub fn s3_url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// One object detected in an image (filled by the detection stage).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Detection {
    /// Class name, e.g. `car`.
    pub label: String,
    /// Score in 0..=1.
    pub confidence: f32,
    /// `[x1, y1, x2, y2]` in pixels of the source image (after EXIF orientation).
    pub bbox: [u32; 4],
    /// The same object's box in the output image's pixels, after the operations moved
    /// it (absent when they cut it away, and for jobs recorded before it existed).
    #[serde(
        default,
        rename = "outputBbox",
        skip_serializing_if = "Option::is_none"
    )]
    pub output_bbox: Option<[u32; 4]>,
}

/// What a job produced from one source image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageResult {
    /// Position of the source in the job's source list (for generations: of the image).
    pub index: u32,
    /// The source object (absent for generated images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ObjectRef>,
    /// The written output, absent when this image failed.
    pub output: Option<OutputInfo>,
    /// Objects detected in the image.
    pub detections: Vec<Detection>,
    /// Why this image failed, when it did.
    pub error: Option<ImageFailure>,
}

/// A stored output image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputInfo {
    /// Where the output is stored.
    pub object: ObjectRef,
    /// MIME type, e.g. `image/webp`.
    pub content_type: String,
    /// Format name, e.g. `webp`.
    pub format: String,
    /// Pixel width.
    pub width: u32,
    /// Pixel height.
    pub height: u32,
    /// Size in bytes.
    pub bytes: u64,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
}

/// A permanent, per-image failure (bad input), reported without failing the whole job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImageFailure {
    /// Stable kebab-case code.
    pub code: String,
    /// A message a person can act on.
    pub message: String,
}

/// The stored request of a `process` job. The pipeline is kept as JSON here (this crate
/// knows nothing of images); the worker parses it with the image engine. Presets are
/// resolved when the job is submitted, so a retry runs exactly what was accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessSpec {
    /// The images to process, in order.
    pub sources: Vec<ObjectRef>,
    /// The pipeline, in the image engine's JSON form.
    pub pipeline: serde_json::Value,
    /// The preset the pipeline came from, when one was named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Free-form client metadata, returned as given.
    #[serde(default)]
    pub metadata: serde_json::Value,
    /// Where to POST a signed webhook when the job ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
}

/// An e-mail job: sent over SMTP by a worker, retried with backoff while the mail
/// server is unreachable or answers with a temporary error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailSpec {
    /// The recipient's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body, sent beside the text one when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}

/// A webhook delivery job: POST `payload` to `url`, signed the Standard Webhooks way
/// with the owner's secret, retried with backoff until it is answered with a 2xx.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSpec {
    /// The job the webhook is about (its deliveries are logged under it); `None` for
    /// events about no job (alarms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<crate::JobId>,
    /// Where to POST.
    pub url: String,
    /// `job.completed`, `job.failed`, `job.cancelled` or `alarm.state-changed`.
    pub event: String,
    /// The body's `data`: the job as it ended.
    pub payload: serde_json::Value,
}
