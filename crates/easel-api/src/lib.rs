//! Easel's HTTP API: native routes under `/v1`, the seeds' routes (`/uploads/presign`,
//! `/process`, `/jobs/{id}`), presigned object access under `/o`, health and metrics.
//! Identity (`/v1/auth/*`, API keys, `/v1/me`, JWKS) and the gateway's rate limits,
//! quotas and CORS live here too. Generation and editing (`/v1/generations`, history,
//! and the Bedrock- and OpenAI-compatible routes) share one service in [`generation`].
//! `GET /openapi.json` describes every API route ([`openapi`]) and `GET /docs` shows it.
//! Handlers are thin: extract, parse into domain types, call a service, render a view.

pub mod auth;
mod error;
mod extract;
pub mod generation;
mod middleware;
pub mod openapi;
mod routes;
mod state;
mod submit;
mod views;

pub use error::ApiError;
pub use middleware::install_metrics_recorder;
pub use routes::{Access, RouteInfo, openapi_json_text, route_table, router};
pub use state::{ApiSettings, AppState, TriggerRule};
pub use submit::{PipelineChoice, SubmitRequest, submit_job};
