//! `GET /v1/jobs/{id}/events`: Server-Sent Events with the job's state each time it
//! changes, ending after the terminal state (the jobs service's watch).

use std::convert::Infallible;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures::{Stream, StreamExt};
use tokio_stream::wrappers::ReceiverStream;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::auth::{Caller, RequestMeta};
use crate::error::ErrorBody;
use crate::routes::{Access, Routes};
use crate::views::{JobView, Links};
use crate::{ApiError, AppState};

/// Longest time between two reads of the job.
pub fn routes() -> Routes {
    Routes::new().add(
        "/v1/jobs/{id}/events",
        Access::Owned,
        &["GET"],
        get(job_events),
    )
}

/// One event of a job's stream as an SSE client reads it (its `event` and `data`
/// fields; `:` comment lines keep the connection alive and carry nothing). The schema of
/// an event stream's content is that of each event, as OpenAPI 3.1 tools read it.
struct JobEvent;

impl PartialSchema for JobEvent {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(event_schema(
                "status",
                "Job",
                "The job as `GET /v1/jobs/{id}` shows it, each time it changes",
            ))
            .item(event_schema(
                "error",
                "Error",
                "Reading the job failed; the stream goes on",
            ))
            .into()
    }
}

impl ToSchema for JobEvent {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push(("Job".to_owned(), JobView::schema()));
        <JobView as ToSchema>::schemas(schemas);
        schemas.push(("Error".to_owned(), ErrorBody::schema()));
        <ErrorBody as ToSchema>::schemas(schemas);
    }
}

/// An event named `name` whose `data` is JSON of the schema `data`.
fn event_schema(name: &str, data: &str, description: &str) -> Schema {
    let event = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([name]));
    let data = ObjectBuilder::new()
        .schema_type(Type::String)
        .content_media_type("application/json")
        .content_schema(Some(Ref::from_schema_name(data)));
    Schema::Object(
        ObjectBuilder::new()
            .description(Some(description))
            .property("event", event)
            .property("data", data)
            .property("id", ObjectBuilder::new().schema_type(Type::String))
            .property("retry", ObjectBuilder::new().schema_type(Type::Integer))
            .required("event")
            .required("data")
            .build(),
    )
}

/// Server-Sent Events: one `status` event (the job, as `GET /v1/jobs/{id}` shows it)
/// each time the job changes, ending after its terminal state.
#[utoipa::path(get, path = "/v1/jobs/{id}/events", tag = "jobs",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "An event stream of `status` events (and `error` events \
            when reading the job fails), ending after the job's terminal state",
            content_type = "text/event-stream", body = JobEvent),
        (status = 404, description = "`job-not-found`", body = ErrorBody),
        (status = 429, description = "`too-many-streams`: the caller holds the most event streams a principal may; close one", body = ErrorBody),
    ))]
async fn job_events(
    State(state): State<AppState>,
    Caller(caller): Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let job = state.services.jobs.get(&meta.0, &caller, &id).await?;
    let max = state.settings.max_streams_per_principal;
    let slot = state.streams.take(&caller.id, max).ok_or_else(|| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-streams",
            format!("at most {max} event streams may be open at once; close one first"),
        )
    })?;
    let signer = state.signer.clone();
    let request_id = meta.0.request_id.clone().unwrap_or_default();
    let changes = state.services.jobs.watch(job, state.shutdown.clone());
    let events = ReceiverStream::new(changes).then(move |job| {
        // The stream holds its slot until it is dropped (ended or the client left).
        let _held = &slot;
        let signer = signer.clone();
        let request_id = request_id.clone();
        async move {
            let event = match Links::for_jobs(signer.as_ref(), [&job]).await {
                Ok(links) => Event::default()
                    .event("status")
                    .json_data(JobView::new(&job, &links)),
                Err(error) => Event::default()
                    .event("error")
                    .json_data(serde_json::json!({
                        "error": {
                            "code": error.code(),
                            "message": error.message(),
                            "requestId": request_id,
                        }
                    })),
            };
            Ok(event.unwrap_or_else(|_| Event::default().event("error")))
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
