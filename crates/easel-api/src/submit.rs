//! Job submission, shared by the native route, the seed route and upload triggers:
//! resolve the pipeline (preset or inline), check it statically, check that every source
//! exists and belongs to the caller, then create the job and its queue entry at once.

use easel_core::{JobId, JobKind, ObjectRef, Principal, ProcessSpec};
use easel_image::Pipeline;
use easel_store::{Created, NewJob, StoreError};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::{ApiError, AppState};

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
    pub idempotency_key: Option<String>,
}

/// Validates and enqueues a job for `caller`.
#[tracing::instrument(skip_all, fields(owner = %caller.id))]
pub async fn submit_job(
    state: &AppState,
    caller: &Principal,
    request: SubmitRequest,
) -> Result<Created, ApiError> {
    let (spec, image_count) = match request.kind {
        JobKind::Noop => {
            if !request.sources.is_empty() || !matches!(request.pipeline, PipelineChoice::None) {
                return Err(ApiError::bad_request(
                    "invalid-request",
                    "a noop job takes no sources and no pipeline",
                ));
            }
            (json!({ "metadata": request.metadata }), 0)
        }
        JobKind::Generate => {
            return Err(ApiError::bad_request(
                "invalid-request",
                "generations are submitted through POST /v1/generations",
            ));
        }
        JobKind::Process => {
            let count = request.sources.len();
            let max = state.settings.max_sources_per_job;
            if count == 0 || count > max {
                return Err(ApiError::bad_request(
                    "invalid-sources",
                    format!("a job takes 1 to {max} sources; this one has {count}"),
                ));
            }
            let (pipeline, preset) = resolve_pipeline(state, request.pipeline)?;
            check_sources(state, caller, &request.sources).await?;
            let spec = ProcessSpec {
                sources: request.sources,
                pipeline: serde_json::to_value(&pipeline).map_err(ApiError::internal)?,
                preset,
                metadata: request.metadata,
            };
            let spec = serde_json::to_value(spec).map_err(ApiError::internal)?;
            (spec, count as u32)
        }
    };
    let canonical = json!({ "kind": request.kind, "spec": spec }).to_string();
    let new = NewJob {
        id: JobId::new(),
        owner: caller.id.clone(),
        kind: request.kind,
        spec,
        image_count,
        max_attempts: state.settings.max_attempts,
        idempotency_key: request.idempotency_key,
        request_hash: hex::encode(Sha256::digest(canonical.as_bytes())),
        expires_at: None,
    };
    match state.jobs.create(new).await {
        Ok(created) => Ok(created),
        Err(StoreError::IdempotencyConflict) => Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "this Idempotency-Key was already used with a different request body; use a new key",
        )),
        Err(other) => Err(ApiError::internal(other)),
    }
}

fn resolve_pipeline(
    state: &AppState,
    choice: PipelineChoice,
) -> Result<(Pipeline, Option<String>), ApiError> {
    let (pipeline, preset) = match choice {
        PipelineChoice::Preset(name) => match state.presets.get(&name) {
            Some(pipeline) => (pipeline.clone(), Some(name)),
            None => {
                let known: Vec<&str> = state.presets.keys().map(String::as_str).collect();
                return Err(ApiError::bad_request(
                    "unknown-preset",
                    format!(
                        "no preset named `{name}`; known presets: {}",
                        known.join(", ")
                    ),
                ));
            }
        },
        PipelineChoice::Inline(value) => {
            let pipeline = serde_json::from_value::<Pipeline>(value)
                .map_err(|e| ApiError::bad_request("invalid-pipeline", format!("pipeline: {e}")))?;
            (pipeline, None)
        }
        PipelineChoice::Resolved(pipeline, preset) => (pipeline, preset),
        PipelineChoice::None => {
            return Err(ApiError::bad_request(
                "missing-pipeline",
                "name a `preset` or give a `pipeline`",
            ));
        }
    };
    pipeline
        .validate(&state.limits)
        .map_err(|e| ApiError::bad_request(e.code(), e.to_string()))?;
    Ok((pipeline, preset))
}

async fn check_sources(
    state: &AppState,
    caller: &Principal,
    sources: &[ObjectRef],
) -> Result<(), ApiError> {
    for source in sources {
        let meta = state.objects.get_object(source).await?;
        // Another principal's object answers exactly like a missing one.
        if !meta.is_some_and(|m| caller.can_access(&m.owner)) {
            return Err(ApiError::not_found(
                "object-not-found",
                format!("{} does not exist", source.s3_url()),
            ));
        }
    }
    Ok(())
}
