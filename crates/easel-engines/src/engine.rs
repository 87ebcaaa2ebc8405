//! The engine trait: one implementation per engine (`classic`, `bedrock`, `openai`, …),
//! each declaring what it can do, reporting progress and honouring cancellation.

use async_trait::async_trait;
use easel_core::EngineErrorCode;
use image::{GrayImage, RgbaImage};
use tokio_util::sync::CancellationToken;

use crate::request::{GenerationRequest, TaskType};

/// What an engine can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// Task types it accepts.
    pub tasks: Vec<TaskType>,
    /// Most images per request.
    pub max_images: u32,
    /// Whether it follows the text prompt (the classic fill does not).
    pub follows_prompt: bool,
    /// Whether it can resolve a `maskPrompt` (needs a segmentation model).
    pub mask_prompts: bool,
}

/// One produced image.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedImage {
    /// The pixels.
    pub pixels: RgbaImage,
    /// The mask used, when the request asked for it (`returnMask`).
    pub mask: Option<GrayImage>,
}

/// Receives progress: `done` of `total` steps.
pub trait Progress: Send + Sync {
    /// Called whenever a step finishes.
    fn report(&self, done: u32, total: u32);
}

/// Progress nobody listens to.
pub struct NoProgress;

impl Progress for NoProgress {
    fn report(&self, _done: u32, _total: u32) {}
}

/// Why an engine did not produce images.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// The engine cannot do this task; `alternatives` can.
    #[error("the `{engine}` engine cannot do {task}{}", alternatives_hint(.alternatives))]
    Unsupported {
        /// The engine asked.
        engine: String,
        /// What it was asked to do.
        task: String,
        /// Engines that can.
        alternatives: Vec<String>,
    },
    /// The request is valid in general but not for this engine.
    #[error("{0}")]
    InvalidInput(String),
    /// The prompt or an image was refused by a content filter.
    #[error("{0}")]
    ContentFiltered(String),
    /// The provider is throttling; try later.
    #[error("the provider is throttling requests: {0}")]
    Throttled(String),
    /// The provider failed.
    #[error("the provider failed: {message}")]
    Provider {
        /// HTTP status, when there was one.
        status: Option<u16>,
        /// What it said.
        message: String,
        /// Whether trying again may work.
        retryable: bool,
    },
    /// The engine cannot run now (its model is not installed); the message says how to
    /// fix that.
    #[error("{0}")]
    Unavailable(String),
    /// The work was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// A bug or resource failure inside the engine.
    #[error("internal engine error: {0}")]
    Internal(String),
}

fn alternatives_hint(alternatives: &[String]) -> String {
    if alternatives.is_empty() {
        "; no configured engine can".to_owned()
    } else {
        format!("; use {}", alternatives.join(" or "))
    }
}

impl EngineError {
    /// A stable kebab-case code.
    pub fn code(&self) -> EngineErrorCode {
        match self {
            EngineError::Unsupported { .. } => EngineErrorCode::UnsupportedTask,
            EngineError::InvalidInput(_) => EngineErrorCode::InvalidRequest,
            EngineError::ContentFiltered(_) => EngineErrorCode::ContentFiltered,
            EngineError::Throttled(_) => EngineErrorCode::Throttled,
            EngineError::Provider { .. } => EngineErrorCode::Failed,
            EngineError::Unavailable(_) => EngineErrorCode::Unavailable,
            EngineError::Cancelled => EngineErrorCode::Cancelled,
            EngineError::Internal(_) => EngineErrorCode::Internal,
        }
    }

    /// Whether running the job again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            EngineError::Throttled(_) | EngineError::Internal(_) => true,
            EngineError::Provider { retryable, .. } => *retryable,
            _ => false,
        }
    }
}

/// An image engine.
#[async_trait]
pub trait Engine: Send + Sync {
    /// The engine's name in configuration and requests, e.g. `classic`.
    fn name(&self) -> &str;

    /// What it can do.
    fn capabilities(&self) -> &Capabilities;

    /// Why the engine cannot run now (a model that is not installed), or `None` when it
    /// can. Checked before a request is queued, so it must be cheap.
    fn unavailable(&self) -> Option<String> {
        None
    }

    /// Produces `request.config.number_of_images` images, reporting progress and
    /// stopping soon after `cancel` fires.
    async fn run(
        &self,
        request: &GenerationRequest,
        progress: &dyn Progress,
        cancel: &CancellationToken,
    ) -> Result<Vec<GeneratedImage>, EngineError>;
}
