//! Integration tests: the real Easel application on port 0 with a fresh data directory
//! per test, driven over HTTP by a real client.

mod account;
mod alarms;
mod bad_requests;
mod copy;
mod detection;
#[cfg(feature = "diffusion")]
mod diffusion;
mod external;
mod flows;
mod generation;
mod helpers;
mod identity;
mod jobs;
mod jwt_attacks;
mod keys;
mod limits;
mod matrix;
mod openapi;
#[path = "../support/postgres.rs"]
mod postgres;
mod presign;
mod providers;
mod queue;
mod recovery;
mod schema_check;
mod schemathesis;
mod services;
mod webhooks;
