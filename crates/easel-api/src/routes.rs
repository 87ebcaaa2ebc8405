//! The router: every route, its body limits and the middleware stack.

mod events;
mod jobs;
mod metadata;
mod objects;
mod ops;
mod seed;
mod uploads;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderName;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::error::render_errors;
use crate::middleware::{request_span, track_metrics};
use crate::{ApiError, AppState};

/// Builds the whole HTTP application.
pub fn router(state: AppState) -> Router {
    let json_routes = Router::new()
        .merge(uploads::router())
        .merge(jobs::router())
        .merge(metadata::router())
        .merge(events::router())
        .merge(seed::router())
        .layer(DefaultBodyLimit::max(state.settings.max_json_bytes));
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(json_routes)
        .merge(objects::router())
        .merge(ops::router())
        .fallback(|| async { ApiError::not_found("route-not-found", "no route matches this path") })
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(request_span)
                        .on_response(DefaultOnResponse::new().level(Level::INFO)),
                )
                .layer(axum::middleware::from_fn(track_metrics))
                .layer(axum::middleware::from_fn(render_errors))
                .layer(CatchPanicLayer::new()),
        )
}
