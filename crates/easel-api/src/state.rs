//! What every handler can reach: the stores, the presigner, settings and presets.

use std::collections::BTreeMap;
use std::sync::Arc;

use easel_engines::Engines;
use easel_image::{Limits, Pipeline};
use easel_store::{Blobs, IdentityStore, Jobs, Objects, Presigner, Queue, RequestLog, Wakeups};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::{Auth, CorsSettings};
use crate::generation::GenerationSettings;

/// Settings of the HTTP API.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Largest JSON body accepted, in bytes.
    pub max_json_bytes: usize,
    /// Largest upload accepted through a presigned URL, in bytes.
    pub max_upload_bytes: u64,
    /// MIME types that may be uploaded.
    pub upload_content_types: Vec<String>,
    /// Lifetime of upload URLs, in seconds.
    pub upload_url_ttl_secs: i64,
    /// Most sources in one job.
    pub max_sources_per_job: usize,
    /// Attempts a job gets before it is dead.
    pub max_attempts: u32,
    /// The preset the seed route `POST /process` applies.
    pub seed_preset: String,
    /// Cross-origin requests.
    pub cors: CorsSettings,
    /// Longest a request may take (generations excepted: they wait up to
    /// `generation.max_wait_secs`).
    pub request_timeout: std::time::Duration,
}

/// An upload trigger: a completed upload whose key starts with `prefix` enqueues a job
/// running `pipeline` (seed 004's S3 ObjectCreated → Lambda).
#[derive(Debug, Clone)]
pub struct TriggerRule {
    /// Key prefix, e.g. `uploads/photos/`.
    pub prefix: String,
    /// The preset name, when the rule names one.
    pub preset: Option<String>,
    /// The pipeline to run.
    pub pipeline: Pipeline,
}

/// Shared state of the API.
#[derive(Clone)]
pub struct AppState {
    /// Job records.
    pub jobs: Arc<dyn Jobs>,
    /// The queue, for its depth.
    pub queue: Arc<dyn Queue>,
    /// Object metadata.
    pub objects: Arc<dyn Objects>,
    /// Object bytes.
    pub blobs: Arc<dyn Blobs>,
    /// Accounts, credentials, usage counters and the audit log.
    pub identity: Arc<dyn IdentityStore>,
    /// Token issuing and verification.
    pub auth: Arc<Auth>,
    /// Signs and checks presigned URLs.
    pub presigner: Arc<Presigner>,
    /// Store signals (job changes for event streams).
    pub wakeups: Arc<Wakeups>,
    /// API settings.
    pub settings: Arc<ApiSettings>,
    /// Named pipelines.
    pub presets: Arc<BTreeMap<String, Pipeline>>,
    /// Image limits, to validate pipelines at submission.
    pub limits: Arc<Limits>,
    /// Upload triggers.
    pub triggers: Arc<Vec<TriggerRule>>,
    /// Generation and editing engines.
    pub engines: Arc<Engines>,
    /// Generation settings: styles, moderation, retention.
    pub generation: Arc<GenerationSettings>,
    /// The generation request log.
    pub request_log: Arc<dyn RequestLog>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Fires when the server shuts down (ends event streams, fails readiness).
    pub shutdown: CancellationToken,
}
