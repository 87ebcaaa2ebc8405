//! The worker pool. A dispatcher claims jobs in batches sized to the free in-flight
//! slots (SQS's batch receive) and runs each in its own task; image work is further
//! bounded by [`Budgets`] (CPU slots, and source images held in memory). Finished jobs
//! go to a completer that records them in batches (SQS's batch delete). On shutdown
//! nothing new is claimed; running jobs get a grace period, then their leases are
//! released so another worker picks them up at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use easel_core::JobStatus;
use easel_engines::Engines;
use easel_image::Limits;
use easel_store::{Blobs, Claim, Completion, FailOutcome, Objects, Queue, RequestLog, Wakeups};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::backoff::retry_delay;
use crate::execute::{Budgets, execute};

/// Most jobs claimed, or completions recorded, in one store call.
const MAX_BATCH: usize = 64;

/// How workers behave.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Jobs claimed and running at once (in flight).
    pub concurrency: usize,
    /// Images decoded/encoded at once (CPU workers).
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
    /// The generation and editing engines.
    pub engines: Arc<Engines>,
    /// Where generation runs are logged.
    pub request_log: Arc<dyn RequestLog>,
    /// The detection models `detect` operations use; `None` when none are set up.
    pub detector: Option<Arc<dyn easel_image::ObjectDetector>>,
    /// Moderation of generated images and process outputs; `None` when it is off.
    pub moderation: Option<Arc<easel_moderation::ImageModeration>>,
    /// Webhooks of jobs that asked for one; `None`: none are queued or delivered.
    pub webhooks: Option<Arc<crate::WebhookSettings>>,
    /// The SMTP server `email` jobs go through; `None`: e-mail is not configured.
    pub email: Option<Arc<crate::EmailSettings>>,
    /// Told of every job that ended for good (notifications); `None`: nobody.
    pub endings: Option<Arc<dyn crate::JobEndings>>,
}

/// Running worker tasks.
pub struct WorkerPool {
    tasks: JoinSet<()>,
}

impl WorkerPool {
    /// Waits until the workers have stopped (after the shutdown token fires) and every
    /// completion is recorded.
    pub async fn join(mut self) {
        while let Some(result) = self.tasks.join_next().await {
            if let Err(error) = result {
                tracing::error!(%error, "a worker task crashed");
            }
        }
    }
}

/// Starts the dispatcher and completer; they stop when `shutdown` is cancelled.
pub fn spawn_workers(
    deps: Arc<WorkerDeps>,
    settings: WorkerSettings,
    shutdown: CancellationToken,
) -> WorkerPool {
    let settings = Arc::new(settings);
    let (completer, completer_task) = Completer::spawn(deps.queue.clone());
    let mut tasks = JoinSet::new();
    tasks.spawn(completer_task);
    tracing::info!(
        in_flight = settings.concurrency,
        cpu_workers = settings.cpu_slots,
        "workers started"
    );
    tasks.spawn(dispatch(deps, settings, completer, shutdown));
    WorkerPool { tasks }
}

/// Runs jobs in the current task until none is claimable; returns how many ran.
/// Tests and `easel worker --drain` use it to empty the queue deterministically.
pub async fn drain(deps: &WorkerDeps, settings: &WorkerSettings) -> usize {
    let budgets = Budgets::new(settings.cpu_slots);
    let (completer, completer_task) = Completer::spawn(deps.queue.clone());
    let completing = tokio::spawn(completer_task);
    let never = CancellationToken::new();
    let mut ran = 0;
    loop {
        match deps.queue.claim(settings.lease, 1).await {
            Ok(claims) if claims.is_empty() => break,
            Ok(claims) => {
                for claim in claims {
                    run_claimed(claim, None, deps, settings, &budgets, &completer, &never).await;
                    ran += 1;
                }
            }
            Err(error) => {
                tracing::error!(%error, "claim failed while draining");
                break;
            }
        }
    }
    drop(completer);
    let _ = completing.await;
    ran
}

/// How long a worker woken by an enqueue waits before it claims.
const WAKE_COALESCE: Duration = Duration::from_millis(3);

async fn dispatch(
    deps: Arc<WorkerDeps>,
    settings: Arc<WorkerSettings>,
    completer: Completer,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let budgets = Arc::new(Budgets::new(settings.cpu_slots));
    let mut running = JoinSet::new();
    loop {
        while let Some(result) = running.try_join_next() {
            if let Err(error) = result {
                tracing::error!(%error, "a job task crashed");
            }
        }
        // Register interest before looking, so a job enqueued in between still wakes us.
        let enqueued = deps.wakeups.wait_enqueued();
        let first = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("the slot semaphore is never closed"),
            () = shutdown.cancelled() => break,
        };
        let mut permits = vec![first];
        while permits.len() < MAX_BATCH {
            match slots.clone().try_acquire_owned() {
                Ok(permit) => permits.push(permit),
                Err(_) => break,
            }
        }
        let pause = match deps.queue.claim(settings.lease, permits.len()).await {
            Ok(claims) if !claims.is_empty() => {
                // Fewer jobs than free slots: the queue is drained, so wait for the next
                // enqueue rather than claim again at once (that claim would find nothing;
                // with several worker processes such empty claims were most of them).
                // A job enqueued meanwhile left a permit, so the wait ends at once.
                let drained = claims.len() < permits.len();
                for (claim, permit) in claims.into_iter().zip(permits.drain(..)) {
                    running.spawn(run_job(
                        claim,
                        permit,
                        deps.clone(),
                        settings.clone(),
                        budgets.clone(),
                        completer.clone(),
                        shutdown.clone(),
                    ));
                }
                drained
            }
            Ok(_) => true,
            Err(error) => {
                metrics::counter!("easel_worker_errors_total", "stage" => "claim").increment(1);
                tracing::error!(%error, "claim failed; backing off");
                true
            }
        };
        drop(permits);
        if pause {
            tokio::select! {
                () = enqueued => {
                    // Let a burst of enqueues gather before claiming: one claim then takes
                    // many jobs, where every process claiming on every wake-up took two
                    // or three each (most of PostgreSQL's time with 4 worker processes).
                    tokio::time::sleep(WAKE_COALESCE).await;
                }
                () = tokio::time::sleep(settings.poll_interval) => {}
                () = shutdown.cancelled() => break,
            }
        }
    }
    // Running jobs finish (or are released after the grace period) on their own.
    while let Some(result) = running.join_next().await {
        if let Err(error) = result {
            tracing::error!(%error, "a job task crashed");
        }
    }
}

async fn run_job(
    claim: Claim,
    slot: OwnedSemaphorePermit,
    deps: Arc<WorkerDeps>,
    settings: Arc<WorkerSettings>,
    budgets: Arc<Budgets>,
    completer: Completer,
    shutdown: CancellationToken,
) {
    run_claimed(
        claim,
        Some(slot),
        &deps,
        &settings,
        &budgets,
        &completer,
        &shutdown,
    )
    .await;
}

/// Records completions in batches: whatever finished while the previous batch was being
/// written goes into the next one, so batching adds no latency when the queue is quiet.
#[derive(Clone)]
struct Completer {
    sender: mpsc::Sender<(Completion, oneshot::Sender<Result<bool, String>>)>,
}

impl Completer {
    fn spawn(queue: Arc<dyn Queue>) -> (Completer, impl Future<Output = ()> + Send + 'static) {
        let (sender, mut receiver) =
            mpsc::channel::<(Completion, oneshot::Sender<Result<bool, String>>)>(MAX_BATCH * 4);
        let task = async move {
            while let Some(first) = receiver.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match receiver.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let (completions, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                match queue.complete(&completions).await {
                    Ok(recorded) => {
                        for (reply, held) in replies.into_iter().zip(recorded) {
                            let _ = reply.send(Ok(held));
                        }
                    }
                    Err(error) => {
                        for reply in replies {
                            let _ = reply.send(Err(error.to_string()));
                        }
                    }
                }
            }
        };
        (Completer { sender }, task)
    }

    /// Records one completion; false when the lease was lost.
    async fn complete(&self, completion: Completion) -> Result<bool, String> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send((completion, reply))
            .await
            .map_err(|_| "the completer stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the completer stopped".to_owned())?
    }
}

/// Runs one claimed job and records its outcome. `slot` (the job's in-flight slot) is
/// given back as soon as the work is done: recording the outcome only waits for the
/// store, and the dispatcher should claim the next jobs meanwhile (the completer's
/// bounded queue holds claims back if recording falls behind).
#[tracing::instrument(skip_all, fields(job_id = %claim.job.id, attempt = claim.lease.attempt))]
async fn run_claimed(
    claim: Claim,
    slot: Option<OwnedSemaphorePermit>,
    deps: &WorkerDeps,
    settings: &WorkerSettings,
    budgets: &Budgets,
    completer: &Completer,
    shutdown: &CancellationToken,
) {
    let started = Instant::now();
    let kind = claim.job.kind.as_str();
    let grace_over = async {
        shutdown.cancelled().await;
        tokio::time::sleep(settings.shutdown_grace).await;
    };
    let outcome = tokio::select! {
        outcome = execute(&claim, deps, budgets) => Some(outcome),
        () = keep_lease(deps, &claim, settings.lease) => {
            tracing::warn!("lease lost to another worker; abandoning this attempt");
            metrics::counter!("easel_worker_errors_total", "stage" => "lease").increment(1);
            return;
        }
        () = grace_over => None,
    };
    drop(slot);
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
        Ok(results) => {
            let completion_results = results.clone();
            let completion = Completion {
                lease: claim.lease.clone(),
                results,
            };
            match record_completion(completer, completion, settings.lease).await {
                Ok(true) => {
                    metrics::counter!("easel_jobs_finished_total", "kind" => kind, "outcome" => "completed").increment(1);
                    tracing::info!(elapsed, "job completed");
                    let status = JobStatus::Completed;
                    let results = &completion_results;
                    crate::webhook::announce(
                        deps,
                        &claim.job,
                        status,
                        results,
                        None,
                        &claim.lease.token,
                    )
                    .await;
                    crate::endings::tell(deps, &claim.job, status, &claim.lease.token).await;
                }
                Ok(false) => {
                    tracing::warn!("job finished after its lease was lost; result dropped")
                }
                Err(error) => {
                    metrics::counter!("easel_worker_errors_total", "stage" => "complete")
                        .increment(1);
                    tracing::error!(%error, "could not record completion; the lease will expire and the job rerun");
                }
            }
        }
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
                .fail(
                    &claim.lease,
                    &failure.code,
                    &failure.message,
                    retry,
                    &failure.results,
                )
                .await
            {
                Ok(FailOutcome::Retrying { at }) => {
                    metrics::counter!("easel_jobs_finished_total", "kind" => kind, "outcome" => "retrying").increment(1);
                    tracing::warn!(error = %failure.message, retry_at = at, "job attempt failed; will retry");
                }
                Ok(FailOutcome::Dead) => {
                    metrics::counter!("easel_jobs_finished_total", "kind" => kind, "outcome" => "failed").increment(1);
                    tracing::warn!(error = %failure.message, "job failed");
                    let error = Some((failure.code.as_str(), failure.message.as_str()));
                    let status = JobStatus::Failed;
                    crate::webhook::announce(
                        deps,
                        &claim.job,
                        status,
                        &failure.results,
                        error,
                        &claim.lease.token,
                    )
                    .await;
                    crate::endings::tell(deps, &claim.job, status, &claim.lease.token).await;
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

/// First pause before recording a completion again after the store failed.
const RECORD_RETRY_FIRST: Duration = Duration::from_millis(200);

/// Records a completion, trying again with growing pauses while the store fails (a
/// database restart) for up to the lease's length: the work is done, and rerunning it
/// after the lease expires would only repeat it.
async fn record_completion(
    completer: &Completer,
    completion: Completion,
    lease: Duration,
) -> Result<bool, String> {
    let give_up = Instant::now() + lease;
    let mut pause = RECORD_RETRY_FIRST;
    loop {
        match completer.complete(completion.clone()).await {
            Err(error) if Instant::now() + pause < give_up => {
                tracing::warn!(%error, "could not record completion; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            outcome => return outcome,
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
