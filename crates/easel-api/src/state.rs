//! What every handler can reach: the services, the URL signer (views sign
//! download links: Easel's own, or the object store's), the HTTP settings, the metrics
//! renderer, the shutdown token and the open event streams per principal. No store: a
//! handler reaches data only through a service.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
    /// Most event streams one principal may hold open at once.
    pub max_streams_per_principal: usize,
    /// How fast request bodies must arrive.
    pub body_rate: crate::BodyRate,
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
    /// The event streams open now, per principal.
    pub streams: Arc<StreamSlots>,
}

/// Open event streams per principal: a slot is taken when a stream starts and given
/// back when it is dropped (ended, or the client went away).
#[derive(Debug, Default)]
pub struct StreamSlots {
    open: Mutex<HashMap<String, usize>>,
}

/// A held stream slot; dropping it gives the slot back.
#[derive(Debug)]
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    principal: String,
}

impl StreamSlots {
    /// A slot for `principal`, unless it already holds `max`.
    pub fn take(self: &Arc<Self>, principal: &str, max: usize) -> Option<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(principal.to_owned()).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(StreamSlot {
            slots: self.clone(),
            principal: principal.to_owned(),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.principal) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.principal);
            }
        }
    }
}
