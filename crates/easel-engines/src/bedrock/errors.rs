//! Bedrock's error responses (`x-amzn-ErrorType` and `{"message": …}`) as
//! [`EngineError`]s, and which of them are worth another attempt.

use std::time::Duration;

use crate::engine::EngineError;
use crate::http::Failure;

/// The short error type from an `x-amzn-ErrorType` header
/// (`ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/`) or a
/// body's `__type` (`com.amazon.coral.service#UnrecognizedClientException`).
pub fn error_type_name(raw: &str) -> &str {
    let name = raw.split(':').next().unwrap_or(raw);
    name.rsplit('#').next().unwrap_or(name).trim()
}

/// Whether a Bedrock message reports a content filter (Titan's and Nova's wording:
/// "This request has been blocked by our content filters…", "All of the generated
/// images have been blocked by our content filters.").
pub fn is_content_filter_message(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("content filters") || lower.contains("responsible ai policy")
}

/// What a failed response means.
pub(crate) struct ErrorContext<'a> {
    pub status: u16,
    pub error_type: Option<&'a str>,
    pub body: &'a [u8],
    pub model_id: &'a str,
    pub region: &'a str,
    pub retry_after: Option<Duration>,
}

/// The engine error for a failed Bedrock response, and whether to try again now.
pub(crate) fn failure(ctx: &ErrorContext<'_>) -> Failure {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(ctx.body).ok();
    let field = |key: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(key))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let message = field("message")
        .or_else(|| field("Message"))
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(ctx.body);
            let text = text.trim();
            if text.is_empty() {
                format!("HTTP {}", ctx.status)
            } else {
                text.chars().take(500).collect()
            }
        });
    let type_field = field("__type");
    let kind = ctx
        .error_type
        .or(type_field.as_deref())
        .map(error_type_name)
        .unwrap_or("");
    let status = Some(ctx.status);
    let provider = |message: String, retryable: bool| EngineError::Provider {
        status,
        message,
        retryable,
    };
    let (model, region) = (ctx.model_id, ctx.region);
    match kind {
        "ValidationException" if is_content_filter_message(&message) => {
            Failure::fatal(EngineError::ContentFiltered(message))
        }
        "ValidationException" => Failure::fatal(EngineError::InvalidInput(message)),
        "ThrottlingException" | "ModelNotReadyException" => {
            Failure::transient(EngineError::Throttled(message), ctx.retry_after)
        }
        // A quota is not lifted by a retry a second later; the job queue retries later.
        "ServiceQuotaExceededException" => Failure::fatal(EngineError::Throttled(message)),
        "AccessDeniedException" => Failure::fatal(provider(
            format!(
                "access to {model} denied in region {region}: {message} (enable model access \
                 for this model in the Bedrock console of that region, and allow \
                 bedrock:InvokeModel in the IAM policy)"
            ),
            false,
        )),
        "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "IncompleteSignatureException"
        | "MissingAuthenticationTokenException"
        | "ExpiredTokenException" => Failure::fatal(provider(
            format!("the AWS credentials were rejected ({kind}): {message}"),
            false,
        )),
        "ResourceNotFoundException" => Failure::fatal(provider(
            format!(
                "model {model} was not found in region {region}: {message} (check the model \
                 id and that the model is offered in that region)"
            ),
            false,
        )),
        "ModelTimeoutException"
        | "ServiceUnavailableException"
        | "InternalServerException"
        | "InternalFailure"
        | "ModelErrorException" => {
            Failure::transient(provider(format!("{kind}: {message}"), true), None)
        }
        _ if ctx.status == 429 => {
            Failure::transient(EngineError::Throttled(message), ctx.retry_after)
        }
        _ if ctx.status >= 500 => Failure::transient(
            provider(format!("HTTP {}: {message}", ctx.status), true),
            ctx.retry_after,
        ),
        _ => Failure::fatal(provider(
            format!("HTTP {} {kind}: {message}", ctx.status),
            false,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(status: u16, kind: Option<&str>, body: &str) -> Failure {
        failure(&ErrorContext {
            status,
            error_type: kind,
            body: body.as_bytes(),
            model_id: "amazon.nova-canvas-v1:0",
            region: "eu-west-1",
            retry_after: None,
        })
    }

    #[test]
    fn error_types_map_to_engine_errors() {
        let header = "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/";
        let f = map(400, Some(header), r#"{"message":"bad width"}"#);
        assert_eq!(f.error, EngineError::InvalidInput("bad width".into()));
        assert!(!f.retry);

        let f = map(
            403,
            None,
            r#"{"__type":"com.amazon.coral.service#UnrecognizedClientException","message":"The security token included in the request is invalid."}"#,
        );
        assert!(
            matches!(f.error, EngineError::Provider { retryable: false, ref message, .. } if message.contains("credentials were rejected"))
        );

        let f = map(
            403,
            Some("AccessDeniedException"),
            r#"{"message":"You don't have access to the model with the specified model ID."}"#,
        );
        assert!(
            matches!(f.error, EngineError::Provider { ref message, .. } if message.contains("region eu-west-1") && message.contains("model access"))
        );

        let f = map(
            400,
            Some("ServiceQuotaExceededException"),
            r#"{"message":"q"}"#,
        );
        assert_eq!(f.error, EngineError::Throttled("q".into()));
        assert!(!f.retry);

        let f = map(502, None, "<html>bad gateway</html>");
        assert!(f.retry);
        assert!(f.error.is_retryable());
    }

    #[test]
    fn content_filter_wordings_are_recognised() {
        for message in [
            "This request has been blocked by our content filters. Please adjust your text prompt to submit a new request.",
            "This request has been blocked by our content filters. Our filters automatically flagged this prompt because it may conflict our AUP or AWS Responsible AI Policy. Please adjust your text prompt to submit a new request.",
            "All of the generated images have been blocked by our content filters.",
        ] {
            let f = map(
                400,
                Some("ValidationException"),
                &serde_json::json!({"message": message}).to_string(),
            );
            assert_eq!(f.error, EngineError::ContentFiltered(message.into()));
        }
    }
}
