//! The services driven directly, without a server: real SQLite and files in a temporary
//! directory, the classic engine and the real worker where a job must run.

mod credentials;
mod generation;
mod ingest;
mod jobs;
mod notices;
mod support;
