//! Easel's application services: the flows between the transports (the HTTP API, the
//! worker, the command line) and the stores and engines. Each service takes the narrow
//! ports it uses and returns [`ServiceError`]s (a kind, a stable code, a message) that
//! each transport renders in its own shape; none knows of HTTP.
//!
//! - [`ingest`]: presigned uploads and an object's arrival (verify → record → triggers,
//!   cleaned up on every failure path); [`objects`]: reading objects back.
//! - [`jobs`]: job submission (parse → idempotency → quota → create) and the job
//!   lifecycle as callers see it.
//! - [`generation`]: generation and editing for every dialect, the history (delete,
//!   regenerate), the request log and the retention sweep.
//! - [`identity`]: accounts, sign-in with lockout, refresh tokens, API and access keys,
//!   and credential resolution; [`usage`]: rate limits and quotas; [`audit`];
//!   [`secrets`]: keys and secrets shared by every process through the database.
//! - [`mail`]: e-mail to account holders, through the queue; [`notices`]: the
//!   notifications they opt into (job finished, link expiry, weekly summary).

pub mod alarms;
pub mod audit;
mod error;
pub mod generation;
pub mod identity;
pub mod ingest;
pub mod jobs;
pub mod mail;
pub mod notices;
pub mod objects;
pub mod secrets;
mod services;
pub mod usage;

pub use error::{ErrorKind, RateInfo, ServiceError, blocking};
pub use services::{Ports, Services, ServicesSettings};
