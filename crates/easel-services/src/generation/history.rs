//! The history of generations and edits: a caller's live entries (newest first), one
//! entry, deleting one (its outputs removed now, or by the sweep once a running job
//! ends), running one again with a new seed, the request log, and the retention sweep
//! that removes the outputs of expired entries.

use std::time::Duration;

use easel_core::{Dialect, GenerateSpec, JobId, JobKind, JobStatus, Millis, Principal, now_millis};
use easel_engines::request::ModelFamily;
use easel_store::{CancelOutcome, Job, JobFilter, RequestRecord, StoreError};
use serde_json::Value;

use super::submit::set_seed;
use super::{GenError, Generation, GenerationInput, spec_of};
use crate::audit::RequestContext;
use crate::error::ServiceError;

/// A page of history entries.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    /// Entries with their specs, newest first.
    pub items: Vec<(Job, GenerateSpec)>,
    /// The cursor of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// A page of the request log.
#[derive(Debug, Clone)]
pub struct RequestLogPage {
    /// Newest first.
    pub items: Vec<RequestRecord>,
    /// The cursor of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// The largest seed a regeneration takes: the one every model accepts (Nova Canvas's
/// range is the smaller), so that what a request may say does not depend on which model
/// made the entry.
pub const MAX_REGENERATE_SEED: u32 = ModelFamily::Nova.max_seed() as u32;

impl Generation {
    /// `caller`'s live entries, newest first. Everyone's history is their own,
    /// administrators' too (they can open any entry by id).
    pub async fn history(
        &self,
        caller: &Principal,
        limit: u32,
        before: Option<JobId>,
    ) -> Result<HistoryPage, ServiceError> {
        let filter = JobFilter {
            owner: Some(caller.id.clone()),
            kind: Some(JobKind::Generate),
            live_at: Some(now_millis()),
            limit,
            before,
            ..JobFilter::default()
        };
        let page = self.jobs.page(&filter).await?;
        let items = page
            .jobs
            .into_iter()
            .filter_map(|job| spec_of(&job).map(|spec| (job, spec)))
            .collect();
        Ok(HistoryPage {
            items,
            next_cursor: page.next_cursor,
        })
    }

    /// The live entry `id` of `caller`'s (any, for an administrator), with its spec.
    pub async fn entry(
        &self,
        context: &RequestContext,
        caller: &Principal,
        id: &str,
    ) -> Result<(Job, GenerateSpec), ServiceError> {
        let not_found = || {
            ServiceError::not_found(
                "history-entry-not-found",
                format!("no history entry `{id}` (it may have expired or been deleted)"),
            )
        };
        let job = self
            .jobs
            .get(context, caller, id)
            .await
            .map_err(|error| match error.kind() {
                crate::ErrorKind::NotFound => not_found(),
                _ => error,
            })?;
        let live = job.expires_at.is_none_or(|at| at > now_millis());
        if job.kind != JobKind::Generate || !live {
            return Err(not_found());
        }
        let spec =
            spec_of(&job).ok_or_else(|| ServiceError::internal("a generation without its spec"))?;
        Ok((job, spec))
    }

    /// Deletes an entry: a pending job is cancelled, the entry disappears at once, and
    /// its outputs are removed now (or by the sweep as soon as a running job finishes).
    pub async fn delete(
        &self,
        context: &RequestContext,
        caller: &Principal,
        id: &str,
    ) -> Result<(), ServiceError> {
        let (job, _) = self.entry(context, caller, id).await?;
        let store = &self.ports.jobs;
        if job.status == JobStatus::Pending
            && let CancelOutcome::Cancelled(_) = store.cancel(job.id).await?
        {
            tracing::info!(job_id = %job.id, "pending generation cancelled by delete");
        }
        store.expire(job.id, now_millis()).await?;
        let job = store.get(job.id).await?.unwrap_or(job);
        if job.status.is_terminal() {
            self.remove_outputs(&job).await?;
        }
        Ok(())
    }

    /// Runs an entry again as a new entry: the same request as the client made it (its
    /// own texts, the style applied once more) with `seed`, or a new random one.
    pub async fn regenerate(
        &self,
        context: &RequestContext,
        caller: &Principal,
        id: &str,
        seed: Option<u32>,
        wait: Duration,
    ) -> Result<Job, GenError> {
        if let Some(seed) = seed.filter(|s| *s > MAX_REGENERATE_SEED) {
            return Err(GenError::BadOption {
                code: "invalid-seed",
                field: "seed",
                message: format!(
                    "seed {seed} is over {MAX_REGENERATE_SEED}, the largest seed every model takes"
                ),
            });
        }
        let (_, spec) = self.entry(context, caller, id).await?;
        let input = GenerationInput {
            body: client_request(&spec, seed),
            model: Some(spec.model.clone()),
            engine: Some(spec.engine.clone()),
            engine_preferred: false,
            output_format: Some(spec.output_format),
            output_quality: spec.output_quality,
            style: spec.style_preset.clone(),
            // Regenerations are asked for through the native history API.
            dialect: Dialect::Native,
            idempotency_key: None,
            callback_url: None,
        };
        self.submit_and_wait(caller, input, wait).await
    }

    /// The caller's request log, newest first.
    pub async fn request_log(
        &self,
        caller: &Principal,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<RequestLogPage, ServiceError> {
        let items = self
            .ports
            .request_log
            .list_requests(Some(&caller.id), cursor, limit)
            .await?;
        let next_cursor = (items.len() == limit as usize)
            .then(|| items.last().map(|r| r.id.clone()))
            .flatten();
        Ok(RequestLogPage { items, next_cursor })
    }

    /// Deletes a finished job's outputs (bytes and metadata) and records that it did.
    pub async fn remove_outputs(&self, job: &Job) -> Result<usize, StoreError> {
        let mut removed = 0;
        for output in job.results.iter().filter_map(|r| r.output.as_ref()) {
            match self.ports.blobs.delete(&output.object).await {
                Ok(()) | Err(StoreError::NotFound) => {}
                Err(other) => return Err(other),
            }
            self.ports.objects.delete_object(&output.object).await?;
            removed += 1;
        }
        self.ports
            .jobs
            .outputs_removed(job.id, now_millis())
            .await?;
        Ok(removed)
    }

    /// Removes the outputs of every expired, finished job (the retention of
    /// `generation.retention_days`; a history delete expires an entry at once);
    /// returns how many jobs it swept.
    pub async fn sweep_expired(&self, now: Millis) -> Result<usize, StoreError> {
        let mut swept = 0;
        loop {
            let due = self.ports.jobs.expired(now, 100).await?;
            if due.is_empty() {
                return Ok(swept);
            }
            for job in &due {
                let removed = self.remove_outputs(job).await?;
                tracing::info!(job_id = %job.id, removed, "expired outputs removed");
                swept += 1;
            }
        }
    }
}

/// The body the client sent for `spec`'s entry: the stored body has the style applied
/// and the seed fixed, so the user's own texts (kept in the spec) go back into the
/// task's parameters and the seed is `seed` (absent: a new random one).
fn client_request(spec: &GenerateSpec, seed: Option<u32>) -> Value {
    let mut request = spec.request.clone();
    if let Some(params) = request
        .get_mut(spec.task_type.params_key())
        .and_then(Value::as_object_mut)
    {
        for (field, text) in [
            ("text", &spec.prompt),
            ("negativeText", &spec.negative_prompt),
        ] {
            match text {
                Some(text) => params.insert(field.to_owned(), Value::String(text.clone())),
                None => params.remove(field),
            };
        }
    }
    set_seed(&mut request, seed);
    request
}

impl Generation {
    /// The request-log record of `job`'s run (engine latency, output bytes), when it
    /// is among its owner's recent records.
    pub async fn run_record(&self, job: &Job) -> Result<Option<RequestRecord>, ServiceError> {
        let recent = self
            .ports
            .request_log
            .list_requests(Some(&job.owner), None, 20)
            .await?;
        Ok(recent.into_iter().find(|r| r.job_id == Some(job.id)))
    }
}
