//! Operations endpoints: liveness, readiness and Prometheus metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ErrorBody;
use crate::routes::{Access, Routes};
use crate::{ApiError, AppState};

pub fn routes() -> Routes {
    Routes::new()
        .add("/healthz", Access::Public, &["GET", "HEAD"], get(healthz))
        .add("/readyz", Access::Public, &["GET", "HEAD"], get(readyz))
        .add("/metrics", Access::Public, &["GET", "HEAD"], get(metrics))
}

/// A health answer.
#[derive(Debug, Serialize, ToSchema)]
struct Health {
    /// `ok` (liveness) or `ready` (readiness).
    #[schema(value_type = String, example = "ok")]
    status: &'static str,
}

/// The process is up.
#[utoipa::path(method(get, head), path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The process can serve: the database answers and shutdown has not begun.
#[utoipa::path(method(get, head), path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "`shutting-down` or `database-unavailable`, with `Retry-After`", body = ErrorBody),
    ))]
async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    if state.shutdown.is_cancelled() {
        return Err(ApiError::unavailable(
            "shutting-down",
            "the server is shutting down",
            1,
        ));
    }
    state.services.jobs.ping().await.map_err(|error| {
        tracing::warn!(%error, "readiness check failed");
        ApiError::unavailable(
            "database-unavailable",
            "the metadata database does not answer",
            5,
        )
    })?;
    Ok(Json(Health { status: "ready" }))
}

/// Prometheus text format. Job and queue gauges are read from the database at scrape
/// time, so they are right even when other processes run the workers.
#[utoipa::path(method(get, head), path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus exposition format",
        content_type = "text/plain; version=0.0.4", body = String)))]
async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let (counts, depth) = state.services.jobs.stats().await?;
    for (status, count) in counts {
        metrics::gauge!("easel_jobs", "status" => status.as_str()).set(count as f64);
    }
    metrics::gauge!("easel_queue_depth").set(depth as f64);
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    ))
}
