//! Following a job: its state each time it changes, ending after the terminal state.
//! In-process changes arrive through the store's signals; a periodic re-read catches
//! changes made by workers in other processes.

use std::time::Duration;

use easel_store::Job;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Jobs;

/// How often a watched job is re-read when no signal arrives.
const POLL: Duration = Duration::from_secs(1);

impl Jobs {
    /// The states of `job` (already read, and the caller's) from now on: the current
    /// one first, then each change, closing after a terminal state, when `stop` fires
    /// or when the receiver is dropped.
    pub fn watch(&self, job: Job, stop: CancellationToken) -> mpsc::Receiver<Job> {
        let (sender, receiver) = mpsc::channel(8);
        let store = self.store.clone();
        let mut changes = self.wakeups.subscribe();
        let job_id = job.id;
        tokio::spawn(async move {
            let mut last = None;
            let mut current = Some(job);
            loop {
                if let Some(job) = current.take() {
                    let fingerprint = (job.status, job.progress, job.updated_at);
                    if last != Some(fingerprint) {
                        last = Some(fingerprint);
                        let terminal = job.status.is_terminal();
                        if sender.send(job).await.is_err() || terminal {
                            return; // the watcher went away, or nothing more will change
                        }
                    }
                }
                tokio::select! {
                    changed = changes.recv() => {
                        // Another job changed: keep waiting. A lagged receiver re-reads.
                        if let Ok(changed_id) = changed && changed_id != job_id {
                            continue;
                        }
                    }
                    () = tokio::time::sleep(POLL) => {}
                    () = stop.cancelled() => return,
                }
                match store.get(job_id).await {
                    Ok(job) => current = job,
                    Err(error) => {
                        tracing::warn!(%error, "a job watch could not read the job");
                        return;
                    }
                }
            }
        });
        receiver
    }
}
