//! `GET /v1/jobs/{id}/events`: Server-Sent Events with the job's state each time it
//! changes, ending after the terminal state. In-process changes arrive through the store's
//! signals; a periodic re-read catches changes made by workers in other processes.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures::Stream;
use tokio_stream::wrappers::ReceiverStream;

use crate::auth::{Caller, RequestMeta};
use crate::error::ErrorBody;
use crate::routes::jobs::load_job;
use crate::routes::{Access, Routes};
use crate::views::JobView;
use crate::{ApiError, AppState};

/// Longest time between two reads of the job.
const POLL: Duration = Duration::from_secs(1);

pub fn routes() -> Routes {
    Routes::new().add(
        "/v1/jobs/{id}/events",
        Access::Owned,
        &["GET"],
        get(job_events),
    )
}

/// Server-Sent Events: one `status` event (the job, as `GET /v1/jobs/{id}` shows it)
/// each time the job changes, ending after its terminal state.
#[utoipa::path(get, path = "/v1/jobs/{id}/events", tag = "jobs",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "An event stream; each `data:` line is a `Job`",
            content_type = "text/event-stream", body = String),
        (status = 404, description = "`job-not-found`", body = ErrorBody),
    ))]
async fn job_events(
    State(state): State<AppState>,
    Caller(caller): Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let job = load_job(&state, &caller, &meta, &id).await?;
    let job_id = job.id;
    let (sender, receiver) = tokio::sync::mpsc::channel(8);
    let mut changes = state.wakeups.subscribe();
    tokio::spawn(async move {
        let mut last = None;
        let mut current = Some(job);
        loop {
            if let Some(job) = current.take() {
                let fingerprint = (job.status, job.progress, job.updated_at);
                if last != Some(fingerprint) {
                    last = Some(fingerprint);
                    let view = JobView::new(&job, &state.presigner);
                    let event = Event::default()
                        .event("status")
                        .json_data(&view)
                        .unwrap_or_else(|_| Event::default().event("error"));
                    if sender.send(Ok(event)).await.is_err() {
                        return; // the client went away
                    }
                    if job.status.is_terminal() {
                        return;
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
                () = state.shutdown.cancelled() => return,
            }
            match state.jobs.get(job_id).await {
                Ok(job) => current = job,
                Err(error) => {
                    tracing::warn!(%error, "event stream could not read the job");
                    return;
                }
            }
        }
    });
    Ok(Sse::new(ReceiverStream::new(receiver)).keep_alive(KeepAlive::default()))
}
