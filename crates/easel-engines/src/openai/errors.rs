//! OpenAI's error responses (`{"error": {"message", "type", "param", "code"}}`) as
//! [`EngineError`]s, and which of them are worth another attempt.

use std::time::Duration;

use serde::Deserialize;

use crate::engine::EngineError;
use crate::http::Failure;

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: ErrorDetail,
}

#[derive(Deserialize, Default)]
struct ErrorDetail {
    #[serde(default)]
    message: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<serde_json::Value>,
}

/// Codes OpenAI uses for refusals by its safety system.
const FILTER_CODES: &[&str] = &["content_policy_violation", "moderation_blocked"];

/// The engine error for a failed OpenAI response, and whether to try again now.
pub(crate) fn failure(status: u16, body: &[u8], retry_after: Option<Duration>) -> Failure {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let detail = parsed.error;
    let code = detail.code.as_ref().and_then(|c| match c {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    let message = detail.message.filter(|m| !m.is_empty()).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        if text.is_empty() {
            format!("HTTP {status}")
        } else {
            text.chars().take(500).collect()
        }
    });
    let code = code.as_deref().unwrap_or("");
    let provider = |message: String, retryable: bool| EngineError::Provider {
        status: Some(status),
        message,
        retryable,
    };
    match status {
        400 if FILTER_CODES.contains(&code) => {
            Failure::fatal(EngineError::ContentFiltered(message))
        }
        400 | 413 | 422 => Failure::fatal(EngineError::InvalidInput(message)),
        429 if code == "insufficient_quota" || code == "billing_hard_limit_reached" => {
            Failure::fatal(provider(
                format!("the OpenAI account is out of quota ({code}): {message}"),
                false,
            ))
        }
        429 => Failure::transient(EngineError::Throttled(message), retry_after),
        401 => Failure::fatal(provider(
            format!("the OpenAI API key was rejected: {message}"),
            false,
        )),
        403 => Failure::fatal(provider(
            format!("OpenAI refused access (organization, project or model access): {message}"),
            false,
        )),
        404 => Failure::fatal(provider(
            format!("not found (check base_url and the model name): {message}"),
            false,
        )),
        s if s >= 500 => {
            Failure::transient(provider(format!("HTTP {s}: {message}"), true), retry_after)
        }
        s => Failure::fatal(provider(
            format!(
                "HTTP {s}{}: {message}",
                detail.kind.map(|k| format!(" {k}")).unwrap_or_default()
            ),
            false,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_codes_map_to_engine_errors() {
        let body = |code: &str| {
            serde_json::json!({"error": {"message": "m", "type": "invalid_request_error", "param": null, "code": code}})
                .to_string()
        };
        let f = failure(400, body("content_policy_violation").as_bytes(), None);
        assert_eq!(f.error, EngineError::ContentFiltered("m".into()));
        let f = failure(400, body("moderation_blocked").as_bytes(), None);
        assert_eq!(f.error, EngineError::ContentFiltered("m".into()));
        let f = failure(400, body("invalid_size").as_bytes(), None);
        assert_eq!(f.error, EngineError::InvalidInput("m".into()));
        let f = failure(429, body("rate_limit_exceeded").as_bytes(), None);
        assert!(f.retry && f.error == EngineError::Throttled("m".into()));
        let f = failure(429, body("insufficient_quota").as_bytes(), None);
        assert!(!f.retry && !f.error.is_retryable());
        let f = failure(401, body("invalid_api_key").as_bytes(), None);
        assert!(!f.retry && !f.error.is_retryable());
        let f = failure(503, b"upstream down", None);
        assert!(f.retry && f.error.is_retryable());
    }
}
