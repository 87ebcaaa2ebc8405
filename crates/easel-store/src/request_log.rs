//! The request log: one row per generation or edit that reached an engine (or was
//! refused before it), with what seed 000 logs to DynamoDB — who, when, which task,
//! prompt, engine, model and seed, the outcome, the engine's latency and output size.

use async_trait::async_trait;
use easel_core::{JobId, Millis};
use serde::Serialize;

use crate::StoreError;

/// One logged request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    /// A time-ordered id (UUID v7), also the paging cursor.
    pub id: String,
    /// The principal that asked.
    pub owner: String,
    /// When it was logged.
    pub at: Millis,
    /// The API it came through: `native`, `bedrock`, `openai` or `seed`.
    pub dialect: String,
    /// `TEXT_IMAGE`, `INPAINTING`, …
    pub task_type: String,
    /// The prompt, when there was one.
    pub prompt: Option<String>,
    /// The engine that ran (or would have run) it.
    pub engine: String,
    /// The model id whose rules applied.
    pub model: String,
    /// The seed used.
    pub seed: Option<u32>,
    /// `succeeded`, `failed`, `retrying` or `refused`.
    pub status: String,
    /// The error code, when it did not succeed.
    pub error_code: Option<String>,
    /// Time spent in the engine, in milliseconds.
    pub latency_ms: Option<u64>,
    /// Total bytes of the stored outputs.
    pub output_bytes: u64,
    /// Images produced.
    pub image_count: u32,
    /// The job that ran it, when one did.
    pub job_id: Option<JobId>,
}

/// The request log.
#[async_trait]
pub trait RequestLog: Send + Sync {
    /// Appends a record.
    async fn log_request(&self, record: &RequestRecord) -> Result<(), StoreError>;

    /// Newest first, optionally one owner's, older than the record id `before`.
    async fn list_requests(
        &self,
        owner: Option<&str>,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RequestRecord>, StoreError>;
}
