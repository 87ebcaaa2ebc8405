//! Cross-cutting HTTP layers: request ids, tracing spans, Prometheus metrics.

use std::sync::OnceLock;
use std::time::Instant;

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use easel_services::alarms::HttpTally;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Latency buckets (seconds) for HTTP requests and jobs.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Installs the process-wide Prometheus recorder once and returns its handle (every
/// later call, e.g. a second server in the same test process, gets the same one).
pub fn install_metrics_recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .expect("the bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            if let Err(error) = metrics::set_global_recorder(recorder) {
                tracing::warn!(%error, "a metrics recorder was already installed");
            }
            handle
        })
        .clone()
}

/// Counts requests by route, method and status class, and times them; counts the
/// answers for the HTTP-rate alarms too.
pub async fn track_metrics(
    State(tally): State<Arc<HttpTally>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    tally.record(response.status().as_u16());
    let class = format!("{}xx", response.status().as_u16() / 100);
    metrics::counter!("easel_http_requests_total", "route" => route.clone(), "method" => method.clone(), "status" => class)
        .increment(1);
    metrics::histogram!("easel_http_request_duration_seconds", "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The tracing span of a request, carrying its id.
pub fn request_span(request: &Request) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "http",
        method = %request.method(),
        path = %request.uri().path(),
        request_id,
    )
}
