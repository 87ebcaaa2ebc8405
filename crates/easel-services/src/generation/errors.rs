//! Why a generation did not happen, or did not finish in time: the flow's own error,
//! rendered by each dialect (native, Bedrock, OpenAI, the seeds) in its peer's terms.

use easel_core::{EngineErrorCode, JobId};
use easel_store::StoreError;

use crate::error::{ErrorKind, ServiceError};

/// Why a generation did not happen (or did not finish in time).
#[derive(Debug, Clone)]
pub enum GenError {
    /// The body broke a rule; `message` is Bedrock's full wording.
    Invalid {
        /// `Malformed input request: #/…: …, please reformat your input and try again.`
        message: String,
        /// The JSON pointer of the field, when one is at fault.
        pointer: Option<String>,
    },
    /// A request option outside the body is wrong (engine, format, style…).
    BadOption {
        /// Stable code.
        code: &'static str,
        /// The option, in the native API's naming (dialects rename it).
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Moderation refused the prompt, or an engine's content filter did.
    Refused(String),
    /// No configured engine can do the task.
    Unsupported(String),
    /// The engine for the task cannot run now (its model is not installed).
    Unavailable(String),
    /// The engine failed.
    Engine {
        /// Why, as the engine reported it.
        code: EngineErrorCode,
        /// What happened.
        message: String,
    },
    /// The job did not finish within the wait; it goes on.
    Timeout(JobId),
    /// A failure of the platform around the engine (quota, idempotency, storage).
    Service(ServiceError),
}

impl From<ServiceError> for GenError {
    fn from(error: ServiceError) -> Self {
        GenError::Service(error)
    }
}

impl From<StoreError> for GenError {
    fn from(error: StoreError) -> Self {
        GenError::Service(error.into())
    }
}

/// The message of a moderation refusal (Bedrock's wording, which clients already show).
pub const REFUSAL: &str = "This request has been blocked by our content filters.";

impl GenError {
    /// The error in the native API's terms (kind, stable code, message).
    pub fn into_service(self) -> ServiceError {
        match self {
            GenError::Invalid { message, .. } => ServiceError::invalid("invalid-request", message),
            GenError::BadOption { code, message, .. } => ServiceError::invalid(code, message),
            GenError::Refused(message) => ServiceError::invalid("content-filtered", message),
            GenError::Unsupported(message) => {
                ServiceError::invalid("engine-unsupported-task", message)
            }
            GenError::Unavailable(message) => {
                ServiceError::new(ErrorKind::Unavailable, "engine-unavailable", message)
            }
            GenError::Engine { code, message } => engine_error(code, message),
            GenError::Timeout(id) => ServiceError::new(
                ErrorKind::Timeout,
                "generation-timeout",
                format!("generation {id} did not finish in time; it goes on: GET /v1/history/{id}"),
            ),
            GenError::Service(error) => error,
        }
    }
}

fn engine_error(code: EngineErrorCode, message: String) -> ServiceError {
    let kind = match code {
        EngineErrorCode::ContentFiltered
        | EngineErrorCode::InvalidRequest
        | EngineErrorCode::UnsupportedTask => ErrorKind::Invalid,
        EngineErrorCode::Throttled | EngineErrorCode::Unavailable => ErrorKind::Unavailable,
        EngineErrorCode::Cancelled => ErrorKind::Conflict,
        EngineErrorCode::Failed | EngineErrorCode::Internal => ErrorKind::Upstream,
    };
    // An internal engine error is reported as a failure: its detail is in the job.
    let code = match code {
        EngineErrorCode::Internal => EngineErrorCode::Failed,
        other => other,
    };
    ServiceError::new(kind, code.as_str(), message)
}
