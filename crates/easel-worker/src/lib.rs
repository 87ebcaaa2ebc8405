//! Easel's workers: tasks that claim jobs from the durable queue, keep their lease alive
//! with heartbeats, run the job (image pipelines off the async runtime, under a CPU
//! semaphore), moderate what they produce, write outputs, and report success, retry or
//! death back to the queue.

mod backoff;
mod email;
mod endings;
mod execute;
mod generate;
mod outputs;
mod pool;
mod webhook;

pub use email::EmailSettings;
pub use endings::JobEndings;
pub use execute::{JobFailure, execute};
pub use pool::{WorkerDeps, WorkerPool, WorkerSettings, drain, spawn_workers};
pub use webhook::WebhookSettings;
