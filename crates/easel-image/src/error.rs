//! The engine's one error type. Every variant names the operation (stage) that failed
//! and why, and carries a stable kebab-case [`ImageError::code`] that the HTTP layer
//! and job records expose unchanged.

use thiserror::Error;

/// Everything that can go wrong between input bytes and output bytes.
///
/// All variants are the input's (or the pipeline's) fault, and retrying the same
/// request gives the same answer, except [`ImageError::Internal`], which
/// [`ImageError::is_retryable`] reports as retryable.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ImageError {
    /// The input has no bytes at all.
    #[error("decode: the input is empty (0 bytes)")]
    EmptyInput,

    /// The bytes are not an image format this build can decode.
    #[error("decode: unsupported format: {reason}")]
    UnsupportedFormat {
        /// What was recognised (or not) and why it cannot be used.
        reason: String,
    },

    /// The input is larger than [`crate::Limits::max_input_bytes`].
    #[error("decode: input is {bytes} bytes, more than the limit of {max} bytes")]
    InputTooLarge {
        /// Size of the input.
        bytes: u64,
        /// The configured limit.
        max: u64,
    },

    /// The header announces more pixels than [`crate::Limits::max_pixels`]; refused
    /// before any pixel buffer is allocated.
    #[error(
        "decode: image is {width}x{height} ({pixels} pixels), more than the limit of {max_pixels} pixels"
    )]
    ImageTooLarge {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
        /// `width * height`.
        pixels: u64,
        /// The configured limit.
        max_pixels: u64,
    },

    /// An operation would produce an image larger than the output limits.
    #[error(
        "{op}: output would be {width}x{height}, more than the limit of {max_width}x{max_height}"
    )]
    OutputTooLarge {
        /// The operation that would exceed the limit.
        op: String,
        /// Width it would produce.
        width: u64,
        /// Height it would produce.
        height: u64,
        /// [`crate::Limits::max_output_width`].
        max_width: u32,
        /// [`crate::Limits::max_output_height`].
        max_height: u32,
    },

    /// The bytes claim a supported format but cannot be decoded (truncated, bad chunk…).
    #[error("{op}: corrupt image: {reason}")]
    Corrupt {
        /// The stage that noticed (`probe`, `decode`, `watermark_image`…).
        op: String,
        /// What is wrong.
        reason: String,
    },

    /// The pipeline is invalid: unknown parameters, out-of-range values, impossible
    /// combinations. Found by [`crate::Pipeline::validate`] before any decoding.
    #[error("{op}: invalid pipeline: {reason}")]
    InvalidPipeline {
        /// The operation at fault (`ops[2] resize`, `output`…).
        op: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Processing took longer than [`crate::Limits::time_budget_ms`].
    #[error("{op}: time budget exceeded: {elapsed_ms} ms spent, budget is {budget_ms} ms")]
    TimeBudgetExceeded {
        /// The stage after which the budget was found spent.
        op: String,
        /// Time spent so far.
        elapsed_ms: u64,
        /// The configured budget.
        budget_ms: u64,
    },

    /// The detection model could not run on this image (none available, or it failed).
    #[error("detect: {reason}")]
    Detection {
        /// What went wrong.
        reason: String,
    },

    /// A failure that is not the input's fault (an encoder or allocator refusing
    /// valid data). Retrying may succeed.
    #[error("{op}: internal error: {reason}")]
    Internal {
        /// The stage that failed.
        op: String,
        /// The underlying reason.
        reason: String,
    },
}

impl ImageError {
    /// A stable kebab-case code for API responses, logs and job records.
    pub fn code(&self) -> &'static str {
        match self {
            ImageError::EmptyInput => "empty-input",
            ImageError::UnsupportedFormat { .. } => "unsupported-format",
            ImageError::InputTooLarge { .. } => "input-too-large",
            ImageError::ImageTooLarge { .. } => "image-too-large",
            ImageError::OutputTooLarge { .. } => "output-too-large",
            ImageError::Corrupt { .. } => "corrupt-image",
            ImageError::InvalidPipeline { .. } => "invalid-pipeline",
            ImageError::TimeBudgetExceeded { .. } => "time-budget-exceeded",
            ImageError::Detection { .. } => "detection-failed",
            ImageError::Internal { .. } => "internal",
        }
    }

    /// True only for errors that are not the input's fault, where a retry may help.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ImageError::Internal { .. })
    }

    pub(crate) fn corrupt(op: impl Into<String>, reason: impl ToString) -> Self {
        ImageError::Corrupt {
            op: op.into(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn invalid(op: impl Into<String>, reason: impl ToString) -> Self {
        ImageError::InvalidPipeline {
            op: op.into(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn internal(op: impl Into<String>, reason: impl ToString) -> Self {
        ImageError::Internal {
            op: op.into(),
            reason: reason.to_string(),
        }
    }
}
