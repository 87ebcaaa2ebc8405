//! The durable queue: claims with a lease (visibility timeout), heartbeats, completion,
//! retries with backoff, and the dead state after `max_attempts`.

use std::time::Duration;

use async_trait::async_trait;
use easel_core::{ImageResult, JobId, Millis};

use crate::{Job, StoreError};

/// Proof that a worker holds a job. Every write a worker makes carries it, so a worker
/// whose lease expired and was taken over cannot overwrite the new holder's work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The job held.
    pub job_id: JobId,
    /// Random token unique to this claim.
    pub token: String,
    /// Which attempt this is, from 1.
    pub attempt: u32,
}

/// A claimed job.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The lease to present on every later call.
    pub lease: Lease,
    /// The job, as it was when claimed.
    pub job: Job,
}

/// A finished job to record with [`Queue::complete`].
#[derive(Debug, Clone)]
pub struct Completion {
    /// The lease the job was run under.
    pub lease: Lease,
    /// Its per-image results.
    pub results: Vec<ImageResult>,
}

/// What [`Queue::fail`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOutcome {
    /// The job is pending again and becomes claimable at this time.
    Retrying {
        /// When it becomes claimable.
        at: Millis,
    },
    /// The job is dead (FAILED) and keeps the error.
    Dead,
    /// The lease was no longer held; nothing changed.
    LeaseLost,
}

/// The durable job queue.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Claims up to `max` of the oldest claimable jobs, oldest first, leasing each for
    /// `lease` (SQS's batch receive). A job whose previous lease expired is claimable
    /// again, unless its attempts are used up, in which case it moves to the dead state.
    async fn claim(&self, lease: Duration, max: usize) -> Result<Vec<Claim>, StoreError>;

    /// Extends a lease. Returns false when the lease is no longer held.
    async fn heartbeat(&self, lease: &Lease, extend: Duration) -> Result<bool, StoreError>;

    /// Records progress: `done` of `total` units (images, or a generation's denoising
    /// steps). Returns false when the lease is no longer held.
    async fn progress(&self, lease: &Lease, done: u32, total: u32) -> Result<bool, StoreError>;

    /// Completes jobs with their results (SQS's batch delete). Returns, per completion,
    /// whether it was recorded (false: the lease was no longer held).
    async fn complete(&self, completions: &[Completion]) -> Result<Vec<bool>, StoreError>;

    /// Records a failed attempt with its stable `code` and message. `retry_after` is the
    /// backoff before the next attempt, or `None` for a permanent failure; once
    /// `max_attempts` are used the job is dead.
    async fn fail(
        &self,
        lease: &Lease,
        code: &str,
        error: &str,
        retry_after: Option<Duration>,
        results: &[ImageResult],
    ) -> Result<FailOutcome, StoreError>;

    /// Gives a job back without counting the attempt (shutdown). Returns false when the
    /// lease is no longer held.
    async fn release(&self, lease: &Lease) -> Result<bool, StoreError>;

    /// Number of jobs waiting to be claimed now.
    async fn depth(&self) -> Result<u64, StoreError>;
}
