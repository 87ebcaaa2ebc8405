//! Job records: creation with idempotency, lookup, listing, cancellation.

use async_trait::async_trait;
use easel_core::{ImageResult, JobId, JobKind, JobStatus, Millis};

use crate::StoreError;

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The job's id.
    pub id: JobId,
    /// The principal that created it.
    pub owner: String,
    /// What it does.
    pub kind: JobKind,
    /// Where it is in its lifecycle.
    pub status: JobStatus,
    /// The request that created it (sources, pipeline, metadata), as JSON.
    pub spec: serde_json::Value,
    /// Number of images the job works on.
    pub image_count: u32,
    /// Units of work finished so far: images, or of `progress_total` units when set.
    pub progress: u32,
    /// Units of work in all, when the worker reported them (a generation's denoising
    /// steps over all its images); 0 means `progress` counts images.
    pub progress_total: u32,
    /// Per-image results, filled when the job completes.
    pub results: Vec<ImageResult>,
    /// The last error, kept when the job failed or is waiting for a retry.
    pub error: Option<String>,
    /// The last error's stable code (`corrupt-image`, `engine-failed`, `lease-expired` …).
    pub error_code: Option<String>,
    /// Attempts started so far.
    pub attempts: u32,
    /// Attempts allowed before the job is dead.
    pub max_attempts: u32,
    /// The client's idempotency key, if it sent one.
    pub idempotency_key: Option<String>,
    /// Creation time.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
    /// When its outputs are deleted (generations have a retention; other jobs none).
    pub expires_at: Option<Millis>,
}

/// What is needed to create a job.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// The id to give it.
    pub id: JobId,
    /// The creating principal.
    pub owner: String,
    /// What it does.
    pub kind: JobKind,
    /// The request, as JSON.
    pub spec: serde_json::Value,
    /// Number of images.
    pub image_count: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// The client's idempotency key.
    pub idempotency_key: Option<String>,
    /// A digest of the request body, to tell a replay from a conflicting reuse of the key.
    pub request_hash: String,
    /// When its outputs are to be deleted, if ever.
    pub expires_at: Option<Millis>,
}

/// The result of [`Jobs::create`].
#[derive(Debug, Clone)]
pub struct Created {
    /// The job (the earlier one when the idempotency key was replayed).
    pub job: Job,
    /// Whether the job existed already (an idempotent replay).
    pub replayed: bool,
}

/// The result of [`Jobs::cancel`].
#[derive(Debug, Clone)]
pub enum CancelOutcome {
    /// The job was pending and is now cancelled.
    Cancelled(Box<Job>),
    /// The job is in a state that cannot be cancelled.
    NotCancellable(JobStatus),
    /// No such job.
    NotFound,
}

/// One kind and status of an owner's jobs over a time range ([`Jobs::activity`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// What the jobs did.
    pub kind: JobKind,
    /// Where they are now.
    pub status: JobStatus,
    /// How many.
    pub jobs: u64,
    /// Their images, in all.
    pub images: u64,
}

/// A page request for [`Jobs::list`], newest first.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only this owner's jobs (`None`: everyone's, for administrators).
    pub owner: Option<String>,
    /// Only jobs in this state.
    pub status: Option<JobStatus>,
    /// Page size.
    pub limit: u32,
    /// Only jobs older than this one (the previous page's last id).
    pub before: Option<JobId>,
    /// Only jobs of this kind.
    pub kind: Option<JobKind>,
    /// Only jobs not expired at this time (no expiry, or a later one).
    pub live_at: Option<Millis>,
    /// Only jobs whose last error has this code.
    pub error_code: Option<String>,
}

/// Which dead (`FAILED`) jobs [`Jobs::redrive`] puts back in the queue.
#[derive(Debug, Clone, Default)]
pub struct Redrive {
    /// Only these jobs (`None`: any).
    pub ids: Option<Vec<JobId>>,
    /// Only jobs whose last error has this code.
    pub error_code: Option<String>,
    /// Only jobs of this kind.
    pub kind: Option<JobKind>,
    /// At most this many, oldest first.
    pub limit: u32,
}

/// Job records.
#[async_trait]
pub trait Jobs: Send + Sync {
    /// Creates a job and its queue entry in one transaction, or returns the job an
    /// earlier request with the same owner and idempotency key created.
    async fn create(&self, job: NewJob) -> Result<Created, StoreError>;

    /// The job an earlier request with the same owner and idempotency key created,
    /// when `new` carries a key and such a request was made (a replay);
    /// [`StoreError::IdempotencyConflict`] when that request had a different body.
    /// Lets a flow answer a replay before it charges a quota; [`Jobs::create`] makes
    /// the same check itself, for requests that race.
    async fn replay_of(&self, new: &NewJob) -> Result<Option<Created>, StoreError>;

    /// Looks a job up.
    async fn get(&self, id: JobId) -> Result<Option<Job>, StoreError>;

    /// Lists jobs newest first.
    async fn list(&self, filter: &JobFilter) -> Result<Vec<Job>, StoreError>;

    /// Cancels a pending job and removes it from the queue.
    async fn cancel(&self, id: JobId) -> Result<CancelOutcome, StoreError>;

    /// Number of jobs in each state.
    async fn count_by_status(&self) -> Result<Vec<(JobStatus, u64)>, StoreError>;

    /// Checks that the database answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Brings a job's expiry forward to `at` (never later than it was); false when there
    /// is no such job. Deleting a history entry expires it now.
    async fn expire(&self, id: JobId, at: Millis) -> Result<bool, StoreError>;

    /// Finished jobs whose expiry is at or before `now` and whose outputs have not been
    /// removed yet, oldest expiry first.
    async fn expired(&self, now: Millis, limit: u32) -> Result<Vec<Job>, StoreError>;

    /// Deletes up to `limit` jobs that finished (`COMPLETED`, `FAILED`, `CANCELLED`)
    /// before `finished_before`, oldest first, so finished work does not pile up in the
    /// table; generations are kept until their outputs were removed (they are history
    /// entries until then). Returns how many it deleted.
    async fn prune_finished(&self, finished_before: Millis, limit: u32) -> Result<u64, StoreError>;

    /// Records that a job's outputs were deleted, so the sweep skips it from now on.
    async fn outputs_removed(&self, id: JobId, at: Millis) -> Result<(), StoreError>;

    /// Puts the dead jobs `which` selects back in the queue (SQS's dead-letter redrive):
    /// `PENDING`, claimable at `now`, attempts, error and results cleared. Returns the
    /// ids it moved, oldest first; jobs not `FAILED` are left alone.
    async fn redrive(&self, which: &Redrive, now: Millis) -> Result<Vec<JobId>, StoreError>;

    /// What `owner` submitted from `from` until before `to` (by creation time): jobs and
    /// images per kind and status, for the weekly summary.
    async fn activity(
        &self,
        owner: &str,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<Activity>, StoreError>;
}

/// The record of a job just created at `now`, as every store returns it from
/// [`Jobs::create`] without reading it back.
pub(crate) fn pending_job(new: NewJob, now: Millis) -> Job {
    Job {
        id: new.id,
        owner: new.owner,
        kind: new.kind,
        status: JobStatus::Pending,
        spec: new.spec,
        image_count: new.image_count,
        progress: 0,
        progress_total: 0,
        results: Vec::new(),
        error: None,
        error_code: None,
        attempts: 0,
        max_attempts: new.max_attempts,
        idempotency_key: new.idempotency_key,
        created_at: now,
        updated_at: now,
        expires_at: new.expires_at,
    }
}

/// The `webhook` job announcing that `job` ended as `status` (with its `results`, and
/// `error` as code and message when it failed), or `None` when it asked for no webhook.
/// `attempt` makes the idempotency key: one announcement per ending, even when queuing
/// it is retried. Workers announce completions and deaths, the jobs service
/// cancellations.
pub fn announcement(
    job: &Job,
    status: JobStatus,
    results: &[ImageResult],
    error: Option<(&str, &str)>,
    attempt: &str,
    max_attempts: u32,
) -> Option<NewJob> {
    let url = match job.kind {
        JobKind::Process | JobKind::Generate => job.spec.get("callbackUrl")?.as_str()?.to_owned(),
        JobKind::Noop | JobKind::Webhook | JobKind::Email => return None,
    };
    let event = match status {
        JobStatus::Completed => "job.completed",
        JobStatus::Cancelled => "job.cancelled",
        _ => "job.failed",
    };
    let payload = serde_json::json!({
        "jobId": job.id.to_string(),
        "kind": job.kind,
        "status": status,
        "imageCount": job.image_count,
        "results": results,
        "error": error.map(|(_, message)| message),
        "errorCode": error.map(|(code, _)| code),
        "metadata": job.spec.get("metadata").cloned().unwrap_or_default(),
        "finishedAt": easel_core::rfc3339(easel_core::now_millis()),
    });
    let spec = easel_core::WebhookSpec {
        target: Some(job.id),
        url,
        event: event.to_owned(),
        payload,
    };
    Some(NewJob {
        id: JobId::new(),
        owner: job.owner.clone(),
        kind: JobKind::Webhook,
        spec: serde_json::to_value(&spec).ok()?,
        image_count: 0,
        max_attempts,
        idempotency_key: Some(format!("webhook:{}:{attempt}", job.id)),
        request_hash: format!("webhook:{}:{event}", job.id),
        expires_at: None,
    })
}
