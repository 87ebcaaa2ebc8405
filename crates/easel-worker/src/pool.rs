//! The worker pool: `concurrency` tasks, each looping claim → run (with heartbeats) →
//! report. On shutdown no new job is claimed; running jobs get a grace period, then their
//! leases are released so another worker picks them up at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use easel_image::Limits;
use easel_store::{Blobs, Claim, FailOutcome, Objects, Queue, Wakeups};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::backoff::retry_delay;
use crate::execute::execute;

/// How workers behave.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Number of worker tasks (jobs in flight).
    pub concurrency: usize,
    /// Number of images decoded/encoded at once (CPU slots).
    pub cpu_slots: usize,
    /// Lease (visibility timeout) taken at claim and renewed by heartbeats.
    pub lease: Duration,
    /// Longest wait between looks at the queue when no wake-up arrives (other processes).
    pub poll_interval: Duration,
    /// How long running jobs may go on after shutdown begins.
    pub shutdown_grace: Duration,
    /// First retry delay.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
}

/// What workers need from the rest of Easel.
pub struct WorkerDeps {
    /// The queue to claim from.
    pub queue: Arc<dyn Queue>,
    /// Object metadata, for recording outputs.
    pub objects: Arc<dyn Objects>,
    /// Object bytes.
    pub blobs: Arc<dyn Blobs>,
    /// In-process wake-ups from the store.
    pub wakeups: Arc<Wakeups>,
    /// Limits applied to every image.
    pub limits: Limits,
}

/// Running worker tasks.
pub struct WorkerPool {
    tasks: JoinSet<()>,
}

impl WorkerPool {
    /// Waits until every worker has stopped (after the shutdown token fires).
    pub async fn join(mut self) {
        while let Some(result) = self.tasks.join_next().await {
            if let Err(error) = result {
                tracing::error!(%error, "a worker task crashed");
            }
        }
    }
}

/// Starts the worker tasks; they stop when `shutdown` is cancelled.
pub fn spawn_workers(
    deps: Arc<WorkerDeps>,
    settings: WorkerSettings,
    shutdown: CancellationToken,
) -> WorkerPool {
    let cpu = Arc::new(Semaphore::new(settings.cpu_slots.max(1)));
    let settings = Arc::new(settings);
    let mut tasks = JoinSet::new();
    for index in 0..settings.concurrency.max(1) {
        let (deps, settings, cpu, shutdown) = (
            deps.clone(),
            settings.clone(),
            cpu.clone(),
            shutdown.clone(),
        );
        tasks.spawn(async move {
            worker_loop(index, &deps, &settings, &cpu, &shutdown).await;
        });
    }
    tracing::info!(workers = settings.concurrency, "workers started");
    WorkerPool { tasks }
}

/// Runs jobs in the current task until none is claimable; returns how many ran.
/// Tests and `easel worker --drain` use it to empty the queue deterministically.
pub async fn drain(deps: &WorkerDeps, settings: &WorkerSettings) -> usize {
    let cpu = Arc::new(Semaphore::new(settings.cpu_slots.max(1)));
    let never = CancellationToken::new();
    let mut ran = 0;
    loop {
        match deps.queue.claim(settings.lease).await {
            Ok(Some(claim)) => {
                run_claimed(claim, deps, settings, &cpu, &never).await;
                ran += 1;
            }
            Ok(None) => return ran,
            Err(error) => {
                tracing::error!(%error, "claim failed while draining");
                return ran;
            }
        }
    }
}

async fn worker_loop(
    index: usize,
    deps: &WorkerDeps,
    settings: &WorkerSettings,
    cpu: &Arc<Semaphore>,
    shutdown: &CancellationToken,
) {
    while !shutdown.is_cancelled() {
        // Register interest before looking, so a job enqueued in between still wakes us.
        let enqueued = deps.wakeups.wait_enqueued();
        match deps.queue.claim(settings.lease).await {
            Ok(Some(claim)) => run_claimed(claim, deps, settings, cpu, shutdown).await,
            Ok(None) => {
                tokio::select! {
                    _ = enqueued => {}
                    _ = tokio::time::sleep(settings.poll_interval) => {}
                    _ = shutdown.cancelled() => {}
                }
            }
            Err(error) => {
                metrics::counter!("easel_worker_errors_total", "stage" => "claim").increment(1);
                tracing::error!(worker = index, %error, "claim failed; backing off");
                tokio::select! {
                    _ = tokio::time::sleep(settings.poll_interval) => {}
                    _ = shutdown.cancelled() => {}
                }
            }
        }
    }
}

#[tracing::instrument(skip_all, fields(job_id = %claim.job.id, attempt = claim.lease.attempt))]
async fn run_claimed(
    claim: Claim,
    deps: &WorkerDeps,
    settings: &WorkerSettings,
    cpu: &Arc<Semaphore>,
    shutdown: &CancellationToken,
) {
    let started = Instant::now();
    let kind = claim.job.kind.as_str();
    let grace_over = async {
        shutdown.cancelled().await;
        tokio::time::sleep(settings.shutdown_grace).await;
    };
    let outcome = tokio::select! {
        outcome = execute(&claim, deps, cpu) => Some(outcome),
        () = keep_lease(deps, &claim, settings.lease) => {
            tracing::warn!("lease lost to another worker; abandoning this attempt");
            metrics::counter!("easel_worker_errors_total", "stage" => "lease").increment(1);
            return;
        }
        () = grace_over => None,
    };
    let Some(outcome) = outcome else {
        match deps.queue.release(&claim.lease).await {
            Ok(_) => tracing::info!("shutdown grace over; job released to the queue"),
            Err(error) => {
                tracing::error!(%error, "could not release the job; its lease will expire")
            }
        }
        return;
    };
    let elapsed = started.elapsed().as_secs_f64();
    metrics::histogram!("easel_job_duration_seconds", "kind" => kind).record(elapsed);
    match outcome {
        Ok(results) => match deps.queue.complete(&claim.lease, &results).await {
            Ok(true) => {
                metrics::counter!("easel_jobs_finished_total", "kind" => kind, "outcome" => "completed").increment(1);
                tracing::info!(elapsed, "job completed");
            }
            Ok(false) => tracing::warn!("job finished after its lease was lost; result dropped"),
            Err(error) => {
                metrics::counter!("easel_worker_errors_total", "stage" => "complete").increment(1);
                tracing::error!(%error, "could not record completion; the lease will expire and the job rerun");
            }
        },
        Err(failure) => {
            let retry = failure.retryable.then(|| {
                retry_delay(
                    claim.lease.attempt,
                    settings.backoff_base,
                    settings.backoff_max,
                )
            });
            match deps
                .queue
                .fail(&claim.lease, &failure.message, retry, &failure.results)
                .await
            {
                Ok(FailOutcome::Retrying { at }) => {
                    metrics::counter!("easel_jobs_finished_total", "kind" => kind, "outcome" => "retrying").increment(1);
                    tracing::warn!(error = %failure.message, retry_at = at, "job attempt failed; will retry");
                }
                Ok(FailOutcome::Dead) => {
                    metrics::counter!("easel_jobs_finished_total", "kind" => kind, "outcome" => "failed").increment(1);
                    tracing::warn!(error = %failure.message, "job failed");
                }
                Ok(FailOutcome::LeaseLost) => tracing::warn!("job failed after its lease was lost"),
                Err(error) => {
                    metrics::counter!("easel_worker_errors_total", "stage" => "fail").increment(1);
                    tracing::error!(%error, "could not record the failure; the lease will expire");
                }
            }
        }
    }
}

/// Renews the lease every third of its length; returns only when the lease is lost.
async fn keep_lease(deps: &WorkerDeps, claim: &Claim, lease: Duration) {
    let every = (lease / 3).max(Duration::from_millis(50));
    loop {
        tokio::time::sleep(every).await;
        match deps.queue.heartbeat(&claim.lease, lease).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => {
                // Keep trying: the lease is still ours until it expires.
                metrics::counter!("easel_worker_errors_total", "stage" => "heartbeat").increment(1);
                tracing::warn!(%error, "heartbeat failed");
            }
        }
    }
}
