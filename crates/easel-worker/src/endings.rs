//! Who else hears that a job ended for good: a port the binary fills (with the
//! notifications service), told after the outcome is recorded and the webhook queued. A
//! failure there is logged; the job's outcome stands.

use async_trait::async_trait;
use easel_core::JobStatus;
use easel_store::Job;

use crate::WorkerDeps;

/// Told of every job that completed or died; `attempt` tells endings apart (a redriven
/// job ends again).
#[async_trait]
pub trait JobEndings: Send + Sync {
    /// `job` ended as `status`.
    async fn job_ended(&self, job: &Job, status: JobStatus, attempt: &str);
}

/// Tells the port of `deps`, if any, that `job` ended as `status`.
pub(crate) async fn tell(deps: &WorkerDeps, job: &Job, status: JobStatus, attempt: &str) {
    if let Some(endings) = &deps.endings {
        endings.job_ended(job, status, attempt).await;
    }
}
