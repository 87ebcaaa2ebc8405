//! What every handler can reach: the services, the URL signer (views sign
//! download links: Easel's own, or the object store's), the HTTP settings, the metrics renderer and the shutdown token. No store: a
//! handler reaches data only through a service.

use std::sync::Arc;

use easel_services::Services;
use easel_store::UrlSigner;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

use crate::cors::CorsSettings;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Largest JSON body accepted, in bytes.
    pub max_json_bytes: usize,
    /// The preset the seed route `POST /process` applies.
    pub seed_preset: String,
    /// Cross-origin requests.
    pub cors: CorsSettings,
    /// Longest a request may take (generations excepted: they wait up to
    /// `generation.max_wait_secs`).
    pub request_timeout: std::time::Duration,
}

/// Shared state of the API.
#[derive(Clone)]
pub struct AppState {
    /// The application services.
    pub services: Services,
    /// Signs download links in views.
    pub signer: Arc<dyn UrlSigner>,
    /// HTTP settings.
    pub settings: Arc<ApiSettings>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Fires when the server shuts down (ends event streams, fails readiness).
    pub shutdown: CancellationToken,
}
