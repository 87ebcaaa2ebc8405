//! The detector's errors, each with a stable kebab-case code.

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// The file is not a readable ONNX model (truncated, corrupt, not protobuf).
    #[error("the model is not a valid ONNX file: {0}")]
    InvalidModel(String),
    /// The graph uses an operator (or an operator form) this engine does not run.
    #[error(
        "the model uses the operator {op} (node {node:?}), which Easel's detector does not support{detail}"
    )]
    UnsupportedOperator {
        /// The operator, e.g. `NonMaxSuppression`.
        op: String,
        /// The node's name.
        node: String,
        /// What about it is unsupported, when the operator itself is (`: …`).
        detail: String,
    },
    /// The model is valid ONNX but not a YOLO detection model Easel can decode.
    #[error("the model is not a YOLO detection model: {0}")]
    NotADetector(String),
    /// A node failed while running (shapes that do not fit together).
    #[error("the model failed while running: {0}")]
    Run(String),
    /// The model file could not be read.
    #[error("cannot read the model file {path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

impl DetectError {
    /// A stable code for the error.
    pub fn code(&self) -> &'static str {
        match self {
            DetectError::InvalidModel(_) => "invalid-model",
            DetectError::UnsupportedOperator { .. } => "unsupported-operator",
            DetectError::NotADetector(_) => "not-a-detector",
            DetectError::Run(_) => "model-failed",
            DetectError::Io { .. } => "model-unreadable",
        }
    }

    pub(crate) fn run(message: impl Into<String>) -> DetectError {
        DetectError::Run(message.into())
    }

    pub(crate) fn unsupported(op: &str, node: &str, detail: impl Into<String>) -> DetectError {
        let detail = detail.into();
        DetectError::UnsupportedOperator {
            op: op.to_string(),
            node: node.to_string(),
            detail: if detail.is_empty() {
                String::new()
            } else {
                format!(": {detail}")
            },
        }
    }
}
