//! Easel's HTTP transport: native routes under `/v1`, the seeds' routes
//! (`/uploads/presign`, `/process`, `/jobs/{id}`, `/imagegenApi`, …), the Bedrock- and
//! OpenAI-compatible routes, presigned object access under `/o`, health, metrics, the
//! OpenAPI document ([`openapi`]) and `/docs`. Handlers are thin: extract the caller
//! and the request, parse into domain types, call one service of `easel-services`, and
//! render a view or the error in the route's dialect. No handler touches a store: the
//! flows (ingest, job submission, generation, identity, quotas) are the services'.

pub mod auth;
mod body_deadline;
mod cors;
mod error;
mod extract;
/// Entry points of the fuzz targets in `fuzz/` (not an API: they may change any time).
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::routes::openai_fuzzing::{Form, ImageOptions, Refusal, read_form};
}
mod middleware;
pub mod openapi;
mod routes;
mod state;
mod views;

pub use body_deadline::BodyRate;
pub use cors::CorsSettings;
pub use error::ApiError;
pub use middleware::install_metrics_recorder;
pub use routes::{Access, RouteInfo, openapi_json_text, route_table, router};
pub use state::{ApiSettings, AppState};
