//! Submitting a `process` or `noop` job: resolve the pipeline (preset or inline) and
//! check it statically, check that every source exists and is the caller's, answer a
//! replayed `Idempotency-Key` with the earlier job, and only then count the quota and
//! create the job with its queue entry. Refused and replayed requests use no quota.

use std::collections::BTreeMap;
use std::sync::Arc;

use easel_core::{
    IdempotencyKey, JobId, JobKind, ObjectRef, OpClass, Principal, ProcessSpec, WebhookPolicy,
};
use easel_image::{Limits, ObjectDetector, Op, Pipeline};
use easel_store::{Created, Job, Jobs as JobStore, NewJob, Objects, StoreError};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::{ErrorKind, ServiceError};
use crate::usage::Usage;

/// Where a job's pipeline comes from.
#[derive(Debug, Clone)]
pub enum PipelineChoice {
    /// A preset by name.
    Preset(String),
    /// An inline pipeline in its JSON form.
    Inline(serde_json::Value),
    /// An already parsed pipeline (upload triggers), with the preset it came from.
    Resolved(Pipeline, Option<String>),
    /// No pipeline (only for `noop` jobs).
    None,
}

/// A job submission.
#[derive(Debug, Clone)]
pub struct SubmitRequest {
    /// What the job does.
    pub kind: JobKind,
    /// Source objects.
    pub sources: Vec<ObjectRef>,
    /// The pipeline.
    pub pipeline: PipelineChoice,
    /// Client metadata, returned as given.
    pub metadata: serde_json::Value,
    /// The client's `Idempotency-Key`.
    pub idempotency_key: Option<IdempotencyKey>,
    /// Where to POST a signed webhook when the job ends.
    pub callback_url: Option<String>,
}

/// A submitted job.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The job (the earlier one for a replayed idempotency key).
    pub job: Job,
    /// Whether this answers a replayed idempotency key.
    pub replayed: bool,
}

impl From<Created> for Submitted {
    fn from(created: Created) -> Self {
        Submitted {
            job: created.job,
            replayed: created.replayed,
        }
    }
}

/// Job submission rules.
#[derive(Debug, Clone)]
pub struct JobSettings {
    /// Most sources in one job.
    pub max_sources_per_job: usize,
    /// Attempts a job gets before it is dead.
    pub max_attempts: u32,
    /// Which callback URLs are allowed.
    pub webhooks: WebhookPolicy,
}

/// Validates and creates jobs.
pub struct Submitter {
    jobs: Arc<dyn JobStore>,
    objects: Arc<dyn Objects>,
    usage: Arc<Usage>,
    presets: Arc<BTreeMap<String, Pipeline>>,
    limits: Arc<Limits>,
    settings: JobSettings,
    detector: Option<Arc<dyn ObjectDetector>>,
}

/// Whether a submission counts against the submitter's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Charge {
    /// A client's request: counted in `process`.
    Quota,
    /// Work Easel started itself (an upload trigger): the upload was the request.
    Free,
}

impl Submitter {
    /// The submission rules.
    pub fn settings(&self) -> &JobSettings {
        &self.settings
    }

    /// A submitter checking pipelines against `limits` and presets by name.
    pub fn new(
        jobs: Arc<dyn JobStore>,
        objects: Arc<dyn Objects>,
        usage: Arc<Usage>,
        presets: Arc<BTreeMap<String, Pipeline>>,
        limits: Arc<Limits>,
        settings: JobSettings,
        detector: Option<Arc<dyn ObjectDetector>>,
    ) -> Submitter {
        Submitter {
            jobs,
            objects,
            usage,
            presets,
            limits,
            settings,
            detector,
        }
    }

    /// The named pipelines.
    pub fn presets(&self) -> &BTreeMap<String, Pipeline> {
        &self.presets
    }

    /// The image limits pipelines are checked against.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether a pipeline's `detect` can run with the default model (set up and
    /// installed).
    pub fn detects_objects(&self) -> bool {
        self.detector
            .as_ref()
            .is_some_and(|d| d.check(None).is_ok())
    }

    /// Attempts a job gets before it is dead.
    pub fn max_attempts(&self) -> u32 {
        self.settings.max_attempts
    }

    /// Validates and enqueues a job for `caller`, counted against its quota.
    pub async fn submit(
        &self,
        caller: &Principal,
        request: SubmitRequest,
    ) -> Result<Submitted, ServiceError> {
        self.submit_charged(caller, request, Charge::Quota).await
    }

    #[tracing::instrument(skip_all, fields(owner = %caller.id))]
    pub(crate) async fn submit_charged(
        &self,
        caller: &Principal,
        request: SubmitRequest,
        charge: Charge,
    ) -> Result<Submitted, ServiceError> {
        let new = self.new_job(caller, request).await?;
        create_charged(
            self.jobs.as_ref(),
            &self.usage,
            &caller.id,
            new,
            (charge == Charge::Quota).then_some(OpClass::Process),
        )
        .await
    }

    /// Parses and checks a request into the job to create.
    async fn new_job(
        &self,
        caller: &Principal,
        request: SubmitRequest,
    ) -> Result<NewJob, ServiceError> {
        let (spec, image_count) = match request.kind {
            JobKind::Noop => {
                if !request.sources.is_empty()
                    || !matches!(request.pipeline, PipelineChoice::None)
                    || request.callback_url.is_some()
                {
                    return Err(ServiceError::invalid(
                        "invalid-request",
                        "a noop job takes no sources, no pipeline and no callbackUrl",
                    ));
                }
                (json!({ "metadata": request.metadata }), 0)
            }
            JobKind::Generate => {
                return Err(ServiceError::invalid(
                    "invalid-request",
                    "generations are submitted through POST /v1/generations",
                ));
            }
            JobKind::Webhook | JobKind::Email => {
                return Err(ServiceError::invalid(
                    "invalid-request",
                    "webhook and email jobs are queued by Easel itself",
                ));
            }
            JobKind::Process => {
                let count = request.sources.len();
                let max = self.settings.max_sources_per_job;
                if count == 0 || count > max {
                    return Err(ServiceError::invalid(
                        "invalid-sources",
                        format!("a job takes 1 to {max} sources; this one has {count}"),
                    ));
                }
                if let Some(url) = &request.callback_url {
                    self.settings
                        .webhooks
                        .check_url(url)
                        .map_err(|reason| ServiceError::invalid("invalid-callback-url", reason))?;
                }
                let (pipeline, preset) = self.resolve_pipeline(request.pipeline)?;
                self.check_sources(caller, &request.sources).await?;
                let spec = ProcessSpec {
                    sources: request.sources,
                    pipeline: serde_json::to_value(&pipeline).map_err(ServiceError::internal)?,
                    preset,
                    metadata: request.metadata,
                    callback_url: request.callback_url,
                };
                let spec = serde_json::to_value(spec).map_err(ServiceError::internal)?;
                (spec, count as u32)
            }
        };
        let canonical = json!({ "kind": request.kind, "spec": spec }).to_string();
        Ok(NewJob {
            id: JobId::new(),
            owner: caller.id.clone(),
            kind: request.kind,
            spec,
            image_count,
            max_attempts: self.settings.max_attempts,
            idempotency_key: request.idempotency_key.map(|k| k.as_str().to_owned()),
            request_hash: request_hash(&canonical),
            expires_at: None,
        })
    }

    fn resolve_pipeline(
        &self,
        choice: PipelineChoice,
    ) -> Result<(Pipeline, Option<String>), ServiceError> {
        let (pipeline, preset) = match choice {
            PipelineChoice::Preset(name) => match self.presets.get(&name) {
                Some(pipeline) => (pipeline.clone(), Some(name)),
                None => {
                    let known: Vec<&str> = self.presets.keys().map(String::as_str).collect();
                    return Err(ServiceError::invalid(
                        "unknown-preset",
                        format!(
                            "no preset named `{name}`; known presets: {}",
                            known.join(", ")
                        ),
                    ));
                }
            },
            PipelineChoice::Inline(value) => {
                let pipeline = serde_json::from_value::<Pipeline>(value).map_err(|e| {
                    ServiceError::invalid("invalid-pipeline", format!("pipeline: {e}"))
                })?;
                (pipeline, None)
            }
            PipelineChoice::Resolved(pipeline, preset) => (pipeline, preset),
            PipelineChoice::None => {
                return Err(ServiceError::invalid(
                    "missing-pipeline",
                    "name a `preset` or give a `pipeline`",
                ));
            }
        };
        pipeline
            .validate(&self.limits)
            .map_err(|e| ServiceError::invalid(e.code(), e.to_string()))?;
        let mut pipeline = pipeline;
        if let Some(detect) = pipeline.detect() {
            let available = match &self.detector {
                Some(detector) => detector.check(detect.model.as_deref()),
                None => Err("object detection is not set up in this deployment".to_string()),
            };
            match available {
                Ok(()) => {
                    let names = self
                        .detector
                        .as_ref()
                        .and_then(|d| d.class_names(detect.model.as_deref()));
                    if let Some(names) = names
                        && let Some((i, class)) = pipeline.unknown_class(&names)
                    {
                        let shown: Vec<&str> = names.iter().take(12).map(String::as_str).collect();
                        let more = if names.len() > 12 {
                            format!(" … ({} in all)", names.len())
                        } else {
                            String::new()
                        };
                        return Err(ServiceError::invalid(
                            "invalid-pipeline",
                            format!(
                                "ops[{i}] {}: the detection model has no class {class:?}; it knows {}{more}",
                                pipeline.ops[i].name(),
                                shown.join(", ")
                            ),
                        ));
                    }
                }
                // Validation made sure nothing after it needs the objects.
                Err(_) if detect.if_available => {
                    pipeline.ops.retain(|op| !matches!(op, Op::Detect(_)));
                }
                Err(message) => {
                    return Err(ServiceError::new(
                        ErrorKind::Unavailable,
                        "engine-unavailable",
                        message,
                    ));
                }
            }
        }
        Ok((pipeline, preset))
    }

    async fn check_sources(
        &self,
        caller: &Principal,
        sources: &[ObjectRef],
    ) -> Result<(), ServiceError> {
        for source in sources {
            let meta = self.objects.get_object(source).await?;
            // Another principal's object answers exactly like a missing one.
            if !meta.is_some_and(|m| caller.can_access(&m.owner)) {
                return Err(ServiceError::not_found(
                    "object-not-found",
                    format!("{} does not exist", source.s3_url()),
                ));
            }
        }
        Ok(())
    }
}

/// Hex SHA-256 of a request's canonical form, to tell an idempotent replay from a
/// conflicting reuse of its key.
pub(crate) fn request_hash(canonical: &str) -> String {
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// Creates `new` for `owner`: a replay of an earlier request with the same key is
/// answered without charging; otherwise `class` (if any) is counted first, then the job
/// created. Two requests racing with one new key may both be counted (the store answers
/// the loser as a replay); they are never both created.
pub(crate) async fn create_charged(
    jobs: &dyn JobStore,
    usage: &Usage,
    owner: &str,
    new: NewJob,
    class: Option<OpClass>,
) -> Result<Submitted, ServiceError> {
    match jobs.replay_of(&new).await {
        Ok(Some(earlier)) => return Ok(earlier.into()),
        Ok(None) => {}
        Err(StoreError::IdempotencyConflict) => return Err(key_reused()),
        Err(other) => return Err(other.into()),
    }
    if let Some(class) = class {
        usage.consume_quota(owner, class).await?;
    }
    match jobs.create(new).await {
        Ok(created) => Ok(created.into()),
        Err(StoreError::IdempotencyConflict) => Err(key_reused()),
        Err(other) => Err(other.into()),
    }
}

/// A key bound to another request: a conflict with what the server holds (409, as for
/// other state conflicts; the IETF Idempotency-Key draft suggests 422, but nothing is
/// wrong with the request itself — it would be taken under a new key).
fn key_reused() -> ServiceError {
    ServiceError::new(
        ErrorKind::Conflict,
        "idempotency-key-reused",
        "this Idempotency-Key was already used with a different request body; use a new key",
    )
}
