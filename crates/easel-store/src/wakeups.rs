//! In-process signals that spare workers and event streams from polling: the store fires
//! them on every write. Other processes sharing the database still see changes by polling.

use easel_core::JobId;
use tokio::sync::{Notify, broadcast};

/// Signals fired by a store after it commits.
#[derive(Debug)]
pub struct Wakeups {
    enqueued: Notify,
    changed: broadcast::Sender<JobId>,
}

impl Default for Wakeups {
    fn default() -> Self {
        Wakeups {
            enqueued: Notify::new(),
            changed: broadcast::channel(1024).0,
        }
    }
}

impl Wakeups {
    /// A job became claimable (new, retried or released).
    pub fn job_enqueued(&self) {
        self.enqueued.notify_waiters();
        self.enqueued.notify_one();
    }

    /// Waits until a job may have become claimable.
    pub async fn wait_enqueued(&self) {
        self.enqueued.notified().await;
    }

    /// A job's status, progress or results changed.
    pub fn job_changed(&self, id: JobId) {
        // No receivers is fine: nobody is streaming that job.
        let _ = self.changed.send(id);
    }

    /// Subscribes to job changes.
    pub fn subscribe(&self) -> broadcast::Receiver<JobId> {
        self.changed.subscribe()
    }
}
