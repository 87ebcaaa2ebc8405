//! Operations endpoints: liveness, readiness and Prometheus metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::routes::{Access, Routes};
use crate::{ApiError, AppState};

pub fn routes() -> Routes {
    Routes::new()
        .add("/healthz", Access::Public, &["GET", "HEAD"], get(healthz))
        .add("/readyz", Access::Public, &["GET", "HEAD"], get(readyz))
        .add("/metrics", Access::Public, &["GET", "HEAD"], get(metrics))
}

/// The process is up.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// The process can serve: the database answers and shutdown has not begun.
async fn readyz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    if state.shutdown.is_cancelled() {
        return Err(ApiError::unavailable(
            "shutting-down",
            "the server is shutting down",
            1,
        ));
    }
    state.jobs.ping().await.map_err(|error| {
        tracing::warn!(%error, "readiness check failed");
        ApiError::unavailable(
            "database-unavailable",
            "the metadata database does not answer",
            5,
        )
    })?;
    Ok(Json(json!({ "status": "ready" })))
}

/// Prometheus text format. Job and queue gauges are read from the database at scrape
/// time, so they are right even when other processes run the workers.
async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    for (status, count) in state.jobs.count_by_status().await? {
        metrics::gauge!("easel_jobs", "status" => status.as_str()).set(count as f64);
    }
    metrics::gauge!("easel_queue_depth").set(state.queue.depth().await? as f64);
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    ))
}
