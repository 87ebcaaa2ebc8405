//! Generation and editing, shared by every dialect (native, Bedrock-compatible,
//! OpenAI-compatible, the seed routes): validate the Bedrock-model body, apply the style
//! preset, moderate the prompt, choose the engine, count the quota, and create a durable
//! `generate` job whose stored body is exactly what will run ([`submit`]). Also waiting
//! for a job and reading its outputs, the history ([`history`]: list, delete,
//! regenerate) and the retention sweep that removes expired outputs.

mod errors;
pub mod history;
mod moderation;
mod styles;
mod submit;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use easel_core::{
    Dialect, EngineErrorCode, GenerateSpec, IdempotencyKey, JobId, JobKind, JobStatus, OutputFormat,
};
use easel_engines::Engines;
use easel_store::{Blobs, Job, Jobs as JobStore, Objects, RequestLog, Wakeups};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::error::ServiceError;
use crate::jobs::Jobs;
use crate::usage::Usage;

pub use errors::{GenError, REFUSAL};
pub use history::{HistoryPage, RequestLogPage};
pub use moderation::{BadPattern, Moderation};
pub use styles::{Style, builtin_styles};

/// Settings of generation and editing.
#[derive(Debug, Clone)]
pub struct GenerationSettings {
    /// The model whose request rules apply when a request names none.
    pub default_model: String,
    /// Style presets by name.
    pub styles: BTreeMap<String, Style>,
    /// Prompt moderation.
    pub moderation: Moderation,
    /// How long outputs are kept, in seconds (0: forever).
    pub retention_secs: i64,
    /// Longest `?wait` accepted, and how long synchronous dialects wait for a result.
    pub max_wait_secs: u64,
    /// Largest generation request body (images travel inside it, in base64).
    pub max_body_bytes: usize,
    /// Which callback URLs are allowed.
    pub webhooks: easel_core::WebhookPolicy,
}

impl Default for GenerationSettings {
    fn default() -> Self {
        GenerationSettings {
            default_model: easel_engines::TITAN_IMAGE_V2.to_owned(),
            styles: builtin_styles(),
            moderation: Moderation::default(),
            retention_secs: 30 * 86_400,
            max_wait_secs: 300,
            max_body_bytes: 25 * 1024 * 1024,
            webhooks: easel_core::WebhookPolicy::default(),
        }
    }
}

/// A generation request as a dialect hands it over: the Bedrock body and Easel's
/// options, each already in its type.
#[derive(Debug, Clone)]
pub struct GenerationInput {
    /// The InvokeModel body.
    pub body: Value,
    /// The model id (its request rules apply); `None`: the default model.
    pub model: Option<String>,
    /// The engine by name; `None`: the first that can do the task.
    pub engine: Option<String>,
    /// Whether `engine` is only preferred: a task it cannot do goes to the first engine
    /// that can, as without a name (the Bedrock route's `x-easel-engine` header, which a
    /// client sets once for all its requests). An unknown name is refused either way.
    pub engine_preferred: bool,
    /// `None`: PNG.
    pub output_format: Option<OutputFormat>,
    /// Lossy quality 1–100.
    pub output_quality: Option<u8>,
    /// A style preset by name.
    pub style: Option<String>,
    /// Where it came from.
    pub dialect: Dialect,
    /// The client's `Idempotency-Key`.
    pub idempotency_key: Option<IdempotencyKey>,
    /// Where to POST a signed webhook when the generation ends.
    pub callback_url: Option<String>,
}

/// Reads a client's output format (`png`, `jpeg`/`jpg`, `webp`, any case).
pub fn parse_output_format(text: &str) -> Result<OutputFormat, GenError> {
    OutputFormat::parse(text).map_err(|_| GenError::BadOption {
        code: "invalid-output-format",
        field: "outputFormat",
        message: format!("outputFormat `{text}` is not one of png, jpeg, webp"),
    })
}

/// What generation needs.
pub struct GenerationPorts {
    /// Job records.
    pub jobs: Arc<dyn JobStore>,
    /// Output metadata.
    pub objects: Arc<dyn Objects>,
    /// Output bytes.
    pub blobs: Arc<dyn Blobs>,
    /// The request log.
    pub request_log: Arc<dyn RequestLog>,
    /// In-process job change signals.
    pub wakeups: Arc<Wakeups>,
    /// The engines.
    pub engines: Arc<Engines>,
}

/// The generation flows.
pub struct Generation {
    ports: GenerationPorts,
    usage: Arc<Usage>,
    jobs: Arc<Jobs>,
    settings: GenerationSettings,
    max_attempts: u32,
    stop: CancellationToken,
}

impl Generation {
    /// Generation over `ports`; waits end early when `stop` fires.
    pub fn new(
        ports: GenerationPorts,
        usage: Arc<Usage>,
        jobs: Arc<Jobs>,
        settings: GenerationSettings,
        max_attempts: u32,
        stop: CancellationToken,
    ) -> Generation {
        Generation {
            ports,
            usage,
            jobs,
            settings,
            max_attempts,
            stop,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &GenerationSettings {
        &self.settings
    }

    /// The engines on offer.
    pub fn engines(&self) -> &Engines {
        &self.ports.engines
    }

    /// How long synchronous dialects wait for a result.
    pub fn max_wait(&self) -> Duration {
        Duration::from_secs(self.settings.max_wait_secs)
    }

    /// Checks a client's `?wait=` seconds against the longest wait allowed.
    pub fn check_wait(&self, wait: Option<u64>) -> Result<Duration, ServiceError> {
        let wait = wait.unwrap_or(0);
        let max = self.settings.max_wait_secs;
        if wait > max {
            return Err(ServiceError::invalid(
                "invalid-query",
                format!("wait is at most {max} seconds"),
            ));
        }
        Ok(Duration::from_secs(wait))
    }

    /// Waits until job `id` is finished or `timeout` passes; returns it as last read.
    pub async fn wait_for(&self, id: JobId, timeout: Duration) -> Result<Job, GenError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut changes = self.ports.wakeups.subscribe();
        loop {
            let job = self
                .ports
                .jobs
                .get(id)
                .await?
                .ok_or_else(|| ServiceError::internal("a job vanished while awaited"))?;
            if job.status.is_terminal() || tokio::time::Instant::now() >= deadline {
                return Ok(job);
            }
            // Wake on a change of this job (this process's workers), or poll (other
            // processes' workers), whichever comes first.
            let wake = async {
                loop {
                    match changes.recv().await {
                        Ok(changed) if changed != id => continue,
                        _ => return,
                    }
                }
            };
            tokio::select! {
                () = wake => {}
                () = tokio::time::sleep(Duration::from_millis(250)) => {}
                () = tokio::time::sleep_until(deadline) => {}
                () = self.stop.cancelled() => return Ok(job),
            }
        }
    }

    /// Submits and waits up to `wait`; the job as it is then.
    pub async fn submit_and_wait(
        &self,
        caller: &easel_core::Principal,
        input: GenerationInput,
        wait: Duration,
    ) -> Result<Job, GenError> {
        let job = self.submit(caller, input).await?;
        if wait.is_zero() || job.status.is_terminal() {
            return Ok(job);
        }
        self.wait_for(job.id, wait).await
    }

    /// The bytes of a completed job's images, in order.
    pub async fn output_bytes(&self, job: &Job) -> Result<Vec<Bytes>, GenError> {
        let mut out = Vec::new();
        for output in job.results.iter().filter_map(|r| r.output.as_ref()) {
            out.push(self.ports.blobs.get(&output.object).await?);
        }
        Ok(out)
    }
}

/// The finished job's outcome: `Ok` when completed, its failure as a [`GenError`]
/// otherwise; a job still running is a [`GenError::Timeout`].
pub fn finished(job: &Job) -> Result<(), GenError> {
    match job.status {
        JobStatus::Completed => Ok(()),
        JobStatus::Pending | JobStatus::Running => Err(GenError::Timeout(job.id)),
        JobStatus::Cancelled => Err(GenError::Engine {
            code: EngineErrorCode::Cancelled,
            message: "the generation was cancelled".to_owned(),
        }),
        JobStatus::Failed => {
            let failure = job.results.iter().find_map(|r| r.error.as_ref());
            let (code, message) = match failure {
                Some(f) => (EngineErrorCode::from_stored(&f.code), f.message.clone()),
                None => (
                    EngineErrorCode::Failed,
                    job.error
                        .clone()
                        .unwrap_or_else(|| "the generation failed".to_owned()),
                ),
            };
            Err(match code {
                EngineErrorCode::ContentFiltered => GenError::Refused(message),
                EngineErrorCode::InvalidRequest => GenError::Invalid {
                    message,
                    pointer: None,
                },
                code => GenError::Engine { code, message },
            })
        }
    }
}

/// The stored spec of a generate job.
pub fn spec_of(job: &Job) -> Option<GenerateSpec> {
    (job.kind == JobKind::Generate)
        .then(|| serde_json::from_value(job.spec.clone()).ok())
        .flatten()
}
