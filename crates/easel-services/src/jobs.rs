//! Job submission and the job lifecycle as callers see it: submit (parse → idempotency
//! → quota → create, so that only accepted, new work is counted), read one (another
//! principal's job answers like a missing one), list, cancel, follow its changes
//! ([`watch`]), and the administrators' dead-letter redrive.

pub(crate) mod submit;
mod watch;

use std::str::FromStr;
use std::sync::Arc;

use easel_core::{JobId, JobKind, JobStatus, Millis, Principal, now_millis};
use easel_store::{
    CancelOutcome, Deliveries, Delivery, Job, JobFilter, Jobs as JobStore, Queue, Redrive, Wakeups,
    announcement,
};

use crate::audit::{Actor, Auditor, RequestContext};
use crate::error::{ErrorKind, ServiceError};
use crate::ingest::Ingest;

pub use submit::{JobSettings, PipelineChoice, SubmitRequest, Submitted, Submitter};

/// A page request: newest first, before a cursor.
#[derive(Debug, Clone, Default)]
pub struct JobQuery {
    /// Only jobs in this state.
    pub status: Option<JobStatus>,
    /// Only jobs of this kind.
    pub kind: Option<JobKind>,
    /// Page size (1 to 100).
    pub limit: u32,
    /// The last id of the previous page.
    pub before: Option<JobId>,
    /// Only jobs whose last error has this code (`corrupt-image`, `engine-failed` …).
    pub error_code: Option<String>,
}

/// Which dead jobs to put back in the queue: named ones, a filter, or all of them.
#[derive(Debug, Clone, Default)]
pub struct RedriveRequest {
    /// These jobs.
    pub job_ids: Option<Vec<String>>,
    /// Jobs whose last error has this code.
    pub error_code: Option<String>,
    /// Jobs of this kind.
    pub kind: Option<JobKind>,
    /// Every dead job (required when nothing else narrows the selection).
    pub all: bool,
    /// At most this many, oldest first (1 to 1000, default 100).
    pub limit: Option<u32>,
}

/// A page of jobs and the cursor of the next one.
#[derive(Debug, Clone)]
pub struct JobPage {
    /// Newest first.
    pub jobs: Vec<Job>,
    /// Pass as `before` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// The most entries a page may hold.
pub const MAX_PAGE: u32 = 100;

/// A page size from a request: 20 when absent, 1 to [`MAX_PAGE`].
pub fn page_limit(limit: Option<u32>) -> Result<u32, ServiceError> {
    let limit = limit.unwrap_or(20);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ServiceError::invalid(
            "invalid-query",
            format!("limit must be between 1 and {MAX_PAGE}"),
        ));
    }
    Ok(limit)
}

/// The job id a cursor names (the last id of the previous page), in the hyphenated form
/// the API writes ids in (the document's pattern).
pub fn job_cursor(cursor: Option<&str>) -> Result<Option<JobId>, ServiceError> {
    cursor
        .map(|c| match c.len() {
            36 => JobId::from_str(c).map_err(|_| ()),
            _ => Err(()),
        })
        .transpose()
        .map_err(|_| ServiceError::invalid("invalid-query", "cursor is not one this API returned"))
}

/// Jobs as their owners see them.
pub struct Jobs {
    store: Arc<dyn JobStore>,
    queue: Arc<dyn Queue>,
    wakeups: Arc<Wakeups>,
    audit: Arc<Auditor>,
    submitter: Arc<Submitter>,
    ingest: Arc<Ingest>,
    deliveries: Arc<dyn Deliveries>,
    webhook_key: Arc<Vec<u8>>,
    webhook_attempts: u32,
}

/// What the jobs service reads and writes.
pub struct JobPorts {
    /// Job records.
    pub store: Arc<dyn JobStore>,
    /// The queue (its depth).
    pub queue: Arc<dyn Queue>,
    /// In-process job change signals.
    pub wakeups: Arc<Wakeups>,
    /// The webhook delivery log.
    pub deliveries: Arc<dyn Deliveries>,
}

/// What an inline pipeline may ask for in one deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineRules {
    /// The largest output width.
    pub max_width: u32,
    /// The largest output height.
    pub max_height: u32,
    /// Whether a `detect` operation can run with the default model (detection set up
    /// and its model installed, when the server started).
    pub detection: bool,
}

impl Jobs {
    /// Which callback URLs are allowed (the OpenAPI document states it).
    pub fn webhook_policy(&self) -> easel_core::WebhookPolicy {
        self.submitter.settings().webhooks
    }

    /// Most sources in one job (the OpenAPI document states it).
    pub fn max_sources_per_job(&self) -> usize {
        self.submitter.settings().max_sources_per_job
    }

    /// What an inline pipeline may ask for here (the OpenAPI document states it).
    pub fn pipeline_rules(&self) -> PipelineRules {
        let limits = self.submitter.limits();
        PipelineRules {
            max_width: limits.max_output_width,
            max_height: limits.max_output_height,
            detection: self.submitter.detects_objects(),
        }
    }

    /// Jobs over `ports`; submissions go through `submitter`; webhook secrets derive
    /// from `webhook_key`, and a cancelled job's webhook gets `webhook_attempts`.
    pub fn new(
        ports: JobPorts,
        audit: Arc<Auditor>,
        submitter: Arc<Submitter>,
        ingest: Arc<Ingest>,
        webhook_key: Arc<Vec<u8>>,
        webhook_attempts: u32,
    ) -> Jobs {
        Jobs {
            store: ports.store,
            queue: ports.queue,
            wakeups: ports.wakeups,
            audit,
            submitter,
            ingest,
            deliveries: ports.deliveries,
            webhook_key,
            webhook_attempts,
        }
    }

    /// The secret `caller`'s webhooks are signed with (`whsec_…`, Standard Webhooks).
    pub fn webhook_secret(&self, caller: &Principal) -> String {
        easel_core::owner_secret(&self.webhook_key, &caller.id)
    }

    /// The delivery attempts of the webhooks of `caller`'s job `raw_id`, oldest first.
    pub async fn deliveries(
        &self,
        context: &RequestContext,
        caller: &Principal,
        raw_id: &str,
    ) -> Result<Vec<Delivery>, ServiceError> {
        let job = self.get(context, caller, raw_id).await?;
        Ok(self.deliveries.list_deliveries(job.id, 1000).await?)
    }

    /// The named pipelines a job may use.
    pub fn presets(&self) -> &std::collections::BTreeMap<String, easel_image::Pipeline> {
        self.submitter.presets()
    }

    /// Submits a job for `caller`, counted against its `process` quota unless it
    /// replays an earlier request.
    pub async fn submit(
        &self,
        caller: &Principal,
        request: SubmitRequest,
    ) -> Result<Submitted, ServiceError> {
        // A source uploaded straight to the store and not reported yet is taken in
        // first, so a client may name its upload right after the PUT.
        self.ingest.ingest_sources(caller, &request.sources).await?;
        self.submitter.submit(caller, request).await
    }

    /// The job `raw_id` if `caller` may see it. Another principal's job is reported
    /// exactly like a missing one, and the attempt is audited.
    pub async fn get(
        &self,
        context: &RequestContext,
        caller: &Principal,
        raw_id: &str,
    ) -> Result<Job, ServiceError> {
        let not_found = || ServiceError::not_found("job-not-found", format!("no job `{raw_id}`"));
        let id = JobId::from_str(raw_id).map_err(|_| not_found())?;
        match self.store.get(id).await? {
            Some(job) if caller.can_access(&job.owner) => Ok(job),
            Some(_) => {
                // Answered like a missing id, but recorded: probing other users' ids shows.
                let detail = Some(format!("job {raw_id}"));
                self.audit
                    .record(
                        context,
                        "permission-denied",
                        Actor::principal(&caller.id),
                        detail,
                    )
                    .await;
                Err(not_found())
            }
            None => Err(not_found()),
        }
    }

    /// `caller`'s jobs (an administrator's: everyone's), newest first.
    pub async fn list(&self, caller: &Principal, query: JobQuery) -> Result<JobPage, ServiceError> {
        let filter = JobFilter {
            owner: (!caller.admin).then(|| caller.id.clone()),
            status: query.status,
            kind: query.kind,
            limit: query.limit,
            before: query.before,
            error_code: query.error_code,
            ..JobFilter::default()
        };
        self.page(&filter).await
    }

    /// Puts dead (`FAILED`) jobs back in the queue, as SQS's dead-letter redrive does:
    /// administrators only, audited (`jobs-redriven`, with the ids). Returns the ids
    /// moved; jobs that are not dead are left alone.
    pub async fn redrive(
        &self,
        context: &RequestContext,
        caller: &Principal,
        request: RedriveRequest,
    ) -> Result<Vec<JobId>, ServiceError> {
        if !caller.admin {
            let detail = Some("redrive dead jobs".to_owned());
            self.audit
                .record(
                    context,
                    "permission-denied",
                    Actor::principal(&caller.id),
                    detail,
                )
                .await;
            return Err(ServiceError::forbidden(
                "only administrators may redrive dead jobs",
            ));
        }
        let limit = request.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(ServiceError::invalid(
                "invalid-request",
                "limit must be between 1 and 1000",
            ));
        }
        if request
            .error_code
            .as_deref()
            .is_some_and(|c| c.is_empty() || c.chars().count() > 100)
        {
            return Err(ServiceError::invalid(
                "invalid-request",
                "errorCode must be 1 to 100 characters",
            ));
        }
        if request.job_ids.as_ref().is_some_and(|ids| ids.len() > 1000) {
            return Err(ServiceError::invalid(
                "invalid-request",
                "at most 1000 jobIds at once",
            ));
        }
        let narrowed =
            request.job_ids.is_some() || request.error_code.is_some() || request.kind.is_some();
        if !narrowed && !request.all {
            return Err(ServiceError::invalid(
                "invalid-request",
                "name the jobs (`jobIds`), a filter (`errorCode`, `kind`), or say `all: true`",
            ));
        }
        let ids = request
            .job_ids
            .map(|ids| {
                ids.iter()
                    .map(|raw| {
                        JobId::from_str(raw).map_err(|_| {
                            ServiceError::invalid(
                                "invalid-request",
                                format!("`{raw}` is not a job id"),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let which = Redrive {
            ids,
            error_code: request.error_code.clone(),
            kind: request.kind,
            limit,
        };
        let moved = self.store.redrive(&which, now_millis()).await?;
        let shown: Vec<String> = moved.iter().map(JobId::to_string).collect();
        let detail = format!(
            "{} job(s){}{}: {}",
            moved.len(),
            request
                .error_code
                .map_or(String::new(), |c| format!(" with error code {c}")),
            request
                .kind
                .map_or(String::new(), |k| format!(" of kind {}", k.as_str())),
            shown.join(", ")
        );
        self.audit
            .record(
                context,
                "jobs-redriven",
                Actor::principal(&caller.id),
                Some(detail),
            )
            .await;
        Ok(moved)
    }

    /// A page of the store's jobs under `filter`, with the next cursor.
    pub(crate) async fn page(&self, filter: &JobFilter) -> Result<JobPage, ServiceError> {
        let jobs = self.store.list(filter).await?;
        let next_cursor = (jobs.len() == filter.limit as usize)
            .then(|| jobs.last().map(|j| j.id.to_string()))
            .flatten();
        Ok(JobPage { jobs, next_cursor })
    }

    /// Cancels `caller`'s job `raw_id` if it has not started; `Conflict`
    /// `job-not-cancellable` otherwise.
    pub async fn cancel(
        &self,
        context: &RequestContext,
        caller: &Principal,
        raw_id: &str,
    ) -> Result<Job, ServiceError> {
        let job = self.get(context, caller, raw_id).await?;
        match self.store.cancel(job.id).await? {
            CancelOutcome::Cancelled(job) => {
                let status = JobStatus::Cancelled;
                if let Some(new) =
                    announcement(&job, status, &[], None, "cancel", self.webhook_attempts)
                    && let Err(error) = self.store.create(new).await
                {
                    tracing::error!(%error, job_id = %job.id, "could not queue the job's webhook");
                }
                Ok(*job)
            }
            CancelOutcome::NotCancellable(status) => Err(ServiceError::new(
                ErrorKind::Conflict,
                "job-not-cancellable",
                format!("the job is {status}; only PENDING jobs can be cancelled"),
            )),
            CancelOutcome::NotFound => Err(ServiceError::not_found(
                "job-not-found",
                format!("no job `{raw_id}`"),
            )),
        }
    }

    /// Deletes the jobs that finished more than `keep_ms` before `now`, in batches;
    /// returns how many.
    pub async fn prune_finished(&self, now: Millis, keep_ms: i64) -> Result<u64, ServiceError> {
        const BATCH: u32 = 1_000;
        let mut pruned = 0;
        loop {
            let deleted = self.store.prune_finished(now - keep_ms, BATCH).await?;
            pruned += deleted;
            if deleted < u64::from(BATCH) {
                return Ok(pruned);
            }
        }
    }

    /// Whether the metadata database answers (readiness).
    pub async fn ping(&self) -> Result<(), ServiceError> {
        Ok(self.store.ping().await?)
    }

    /// Jobs per state and the queue's depth (for metrics).
    pub async fn stats(&self) -> Result<(Vec<(JobStatus, u64)>, u64), ServiceError> {
        let counts = self.store.count_by_status().await?;
        let depth = self.queue.depth().await?;
        Ok((counts, depth))
    }
}
