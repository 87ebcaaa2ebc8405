//! Wake-ups between processes: the payloads the store's statements send with
//! `pg_notify`, and the listener task that turns other processes' notifications into
//! [`Wakeups`] signals (see the module header of `postgres.rs` for the whole picture).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use easel_core::JobId;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use tokio::task::JoinHandle;

use crate::{StoreError, Wakeups};

/// The channel of a store without a schema; in a schema it is `easel_jobs.<schema>`, so
/// deployments sharing a database do not wake each other.
const CHANNEL: &str = "easel_jobs";

/// First wait after the listener's connection fails; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What every notifying statement binds: the channel, and this store's tag, which
/// starts each payload so that the listener can skip the store's own notifications (its
/// writes already fired the in-process signals).
#[derive(Debug)]
pub(super) struct Signals {
    /// The channel to notify and listen on.
    pub(super) channel: String,
    /// A random tag unique to this store instance.
    pub(super) tag: String,
}

impl Signals {
    /// The signals of a store in `schema` (or the default one), with a fresh tag.
    pub(super) fn new(schema: Option<&str>) -> Self {
        let channel = match schema {
            Some(schema) => format!("{CHANNEL}.{schema}"),
            None => CHANNEL.to_owned(),
        };
        let tag = uuid::Uuid::new_v4().simple().to_string()[..16].to_owned();
        Signals { channel, tag }
    }
}

/// Fires the signal a payload `<tag> <kind> <job id>` from another instance stands for.
/// The kinds: `enqueued` (a new job is claimable), `changed` (its state, progress or
/// results changed) and `requeued` (both: a retry or a release). Unknown payloads are
/// ignored: a newer process may send kinds this one does not know.
fn forward(payload: &str, own_tag: &str, wakeups: &Wakeups) {
    let mut parts = payload.splitn(3, ' ');
    let (Some(tag), Some(kind), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    if tag == own_tag {
        return;
    }
    let Ok(id) = JobId::from_str(id) else {
        return;
    };
    match kind {
        "enqueued" => wakeups.job_enqueued(),
        "changed" => wakeups.job_changed(id),
        "requeued" => {
            wakeups.job_enqueued();
            wakeups.job_changed(id);
        }
        _ => tracing::debug!(kind, "ignored a job notification of an unknown kind"),
    }
}

/// The listener task; dropping this aborts it (and closes its connection).
#[derive(Debug)]
pub(super) struct Listener {
    task: JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Listener {
    /// Listens on a connection of its own (outside the store's pool, so a busy pool
    /// never starves it), returning once LISTEN is in force: everything committed
    /// after `connect` returns wakes this store.
    pub(super) async fn start(
        options: &PgConnectOptions,
        signals: &Signals,
        wakeups: Arc<Wakeups>,
    ) -> Result<Listener, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_lazy_with(options.clone());
        let listener = listen(&pool, &signals.channel).await?;
        let task = tokio::spawn(run(
            listener,
            pool,
            signals.channel.clone(),
            signals.tag.clone(),
            wakeups,
        ));
        Ok(Listener { task })
    }
}

async fn listen(pool: &PgPool, channel: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(channel).await?;
    Ok(listener)
}

/// Forwards notifications until aborted. A lost connection is re-established with
/// backoff; since what was sent meanwhile is gone, the workers are woken once after.
async fn run(
    mut listener: PgListener,
    pool: PgPool,
    channel: String,
    tag: String,
    wakeups: Arc<Wakeups>,
) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => forward(notification.payload(), &tag, &wakeups),
            // The driver reconnected by itself; notifications may have been missed.
            Ok(None) => wakeups.job_enqueued(),
            Err(error) => {
                tracing::warn!(%error, "lost the job notification connection; reconnecting");
                drop(listener);
                listener = reconnect(&pool, &channel).await;
                wakeups.job_enqueued();
            }
        }
    }
}

/// A new listener, retrying with exponential backoff until the server answers.
async fn reconnect(pool: &PgPool, channel: &str) -> PgListener {
    let mut backoff = FIRST_BACKOFF;
    loop {
        tokio::time::sleep(backoff).await;
        match listen(pool, channel).await {
            Ok(listener) => {
                tracing::info!("job notifications resumed");
                return listener;
            }
            Err(error) => {
                tracing::warn!(%error, retry_in = ?backoff, "cannot listen for job notifications");
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_other_instances_and_skips_its_own() {
        let wakeups = Wakeups::default();
        let mut changes = wakeups.subscribe();
        let id = JobId::new();
        forward(&format!("mine changed {id}"), "mine", &wakeups);
        assert!(
            changes.try_recv().is_err(),
            "its own notification is skipped"
        );
        forward(&format!("theirs changed {id}"), "mine", &wakeups);
        assert_eq!(changes.try_recv().unwrap(), id);
        forward(&format!("theirs requeued {id}"), "mine", &wakeups);
        assert_eq!(changes.try_recv().unwrap(), id);
        let unknown_kind = format!("theirs odd {id}");
        for junk in [
            "",
            "theirs",
            "theirs changed not-an-id",
            unknown_kind.as_str(),
        ] {
            forward(junk, "mine", &wakeups);
        }
        assert!(changes.try_recv().is_err());
    }

    #[test]
    fn channels_are_per_schema() {
        assert_eq!(Signals::new(None).channel, "easel_jobs");
        assert_eq!(
            Signals::new(Some("tenant_a")).channel,
            "easel_jobs.tenant_a"
        );
        assert_ne!(Signals::new(None).tag, Signals::new(None).tag);
    }
}
