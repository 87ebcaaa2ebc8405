//! The Bedrock-compatible endpoint: `POST /model/{modelId}/invoke` takes the InvokeModel
//! body of Titan Image Generator v2 or Nova Canvas and answers exactly like Bedrock
//! (`{"images":[…],"error":null}`; errors with `x-amzn-ErrorType` and `{"message"}`), so
//! the AWS SDKs and CLI work against Easel with only the endpoint changed. Callers sign
//! with SigV4 using access keys created in Easel (`POST /v1/keys {"type":"access-key"}`),
//! or send an Easel API key or access token as a bearer token (Bedrock's API keys).

use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use easel_core::{Principal, now_millis};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::sigv4::{self, SigV4Error};
use crate::auth::{Authenticated, Via, limits};
use crate::generation::{self, Dialect, GenError, GenerationInput};
use crate::openapi::bedrock_body::InvokeModelBody;
use crate::routes::{Access, Routes};
use crate::{ApiError, AppState};

pub fn routes() -> Routes {
    Routes::new().add(
        "/model/{model_id}/invoke",
        Access::Authenticated,
        &["POST"],
        post(invoke),
    )
}

/// Bedrock's error body; the error's type is in the `x-amzn-ErrorType` header.
#[derive(Serialize, ToSchema)]
struct BedrockErrorBody {
    /// What went wrong, in Bedrock's words.
    message: String,
}

/// Bedrock's answer: the images in base64.
#[derive(Serialize, ToSchema)]
struct InvokeModelResponse {
    /// Base64 PNGs.
    images: Vec<String>,
    /// Always `null` on success.
    #[schema(value_type = Option<String>)]
    error: Option<()>,
}

/// A Bedrock error response.
struct BedrockError {
    status: StatusCode,
    kind: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl BedrockError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        BedrockError {
            status,
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ValidationException", message)
    }
}

impl IntoResponse for BedrockError {
    fn into_response(self) -> Response {
        let body = BedrockErrorBody {
            message: self.message,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        let kind = format!(
            "{}:http://internal.amazon.com/coral/com.amazon.bedrock/",
            self.kind
        );
        if let Ok(value) = HeaderValue::from_str(&kind) {
            response.headers_mut().insert("x-amzn-ErrorType", value);
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// An Easel gateway error in Bedrock's words.
fn from_api(error: ApiError) -> BedrockError {
    let message = error.message().to_owned();
    match error.status() {
        StatusCode::UNAUTHORIZED => BedrockError::new(
            StatusCode::FORBIDDEN,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        StatusCode::FORBIDDEN => {
            BedrockError::new(StatusCode::FORBIDDEN, "AccessDeniedException", message)
        }
        StatusCode::TOO_MANY_REQUESTS => {
            let kind = if error.code() == "quota-exceeded" {
                "ServiceQuotaExceededException"
            } else {
                "ThrottlingException"
            };
            BedrockError {
                retry_after: Some(1),
                ..BedrockError::new(StatusCode::TOO_MANY_REQUESTS, kind, message)
            }
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            BedrockError::validation("Input is too long for requested model.")
        }
        s if s.is_client_error() => BedrockError::validation(message),
        _ => BedrockError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerException",
            "The server encountered an internal error while processing the request.",
        ),
    }
}

fn from_generation(error: GenError) -> BedrockError {
    match error {
        GenError::Invalid { message, .. } => BedrockError::validation(message),
        GenError::BadOption { message, .. } | GenError::Unsupported(message) => {
            BedrockError::validation(message)
        }
        GenError::Refused(message) => BedrockError::validation(message),
        GenError::Unavailable(message) => BedrockError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailableException",
            message,
        ),
        GenError::Timeout(_) => BedrockError::new(
            StatusCode::REQUEST_TIMEOUT,
            "ModelTimeoutException",
            "Model has timed out in processing the request. Try your request again.",
        ),
        GenError::Engine { code, message } => match code.as_str() {
            "engine-throttled" => BedrockError {
                retry_after: Some(5),
                ..BedrockError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "ThrottlingException",
                    message,
                )
            },
            "engine-unavailable" => BedrockError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailableException",
                message,
            ),
            "cancelled" | "engine-failed" | "engine-internal-error" => BedrockError::new(
                StatusCode::FAILED_DEPENDENCY,
                "ModelErrorException",
                message,
            ),
            _ => BedrockError::validation(message),
        },
        GenError::Api(api) => from_api(api),
    }
}

/// Who is calling: a SigV4 signature by an Easel access key, or the usual bearer
/// credentials; then the principal's rate limit.
async fn authenticate(
    parts: &Parts,
    body: &[u8],
    state: &AppState,
) -> Result<Principal, BedrockError> {
    let authenticated = if sigv4::is_sigv4(parts) {
        let header = sigv4::parse_header(parts).map_err(|e| match e {
            SigV4Error::Malformed(m) | SigV4Error::BadSignature(m) => {
                BedrockError::new(StatusCode::BAD_REQUEST, "IncompleteSignatureException", m)
            }
        })?;
        let unknown = || {
            BedrockError::new(
                StatusCode::FORBIDDEN,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )
        };
        let key = state
            .identity
            .api_key_by_id(&header.access_key_id)
            .await
            .map_err(|e| from_api(e.into()))?
            .filter(|k| k.revoked_at.is_none() && k.id.starts_with(sigv4::ACCESS_KEY_PREFIX))
            .ok_or_else(unknown)?;
        let secret = sigv4::derive_secret(state.auth.access_key_secret(), &key.id);
        sigv4::verify(
            parts,
            body,
            &header,
            &secret,
            "bedrock",
            now_millis() / 1000,
        )
        .map_err(|e| match e {
            SigV4Error::Malformed(m) | SigV4Error::BadSignature(m) => {
                BedrockError::new(StatusCode::FORBIDDEN, "InvalidSignatureException", m)
            }
        })?;
        let user = state
            .identity
            .user_by_id(&key.owner)
            .await
            .map_err(|e| from_api(e.into()))?
            .filter(|u| !u.disabled)
            .ok_or_else(unknown)?;
        Authenticated {
            principal: Principal {
                id: user.id,
                admin: user.admin,
            },
            username: Some(user.username),
            plan: user.plan,
            via: Via::ApiKey,
        }
    } else {
        Authenticated::resolve(parts, state).await.map_err(|e| {
            if e.status() == StatusCode::UNAUTHORIZED {
                BedrockError::new(
                    StatusCode::FORBIDDEN,
                    "MissingAuthenticationTokenException",
                    "Missing Authentication Token",
                )
            } else {
                from_api(e)
            }
        })?
    };
    limits::take_rate_token(parts, state, &authenticated)
        .await
        .map_err(from_api)?;
    Ok(authenticated.principal)
}

/// Bedrock's InvokeModel for Titan Image Generator v2 and Nova Canvas: the AWS SDKs and
/// CLI work with only the endpoint changed. Sign with SigV4 (service `bedrock`) using an
/// Easel access key, or send an Easel API key or access token as a bearer token.
/// `x-easel-engine` picks an engine. Errors are Bedrock's: `{"message"}` with the type in
/// `x-amzn-ErrorType`.
#[utoipa::path(post, path = "/model/{model_id}/invoke", tag = "bedrock",
    params(("model_id" = String, Path, description = "`amazon.titan-image-generator-v2:0` or `amazon.nova-canvas-v1:0`"),
        ("x-easel-engine" = Option<String>, Header, description = "An Easel engine by name")),
    request_body = InvokeModelBody,
    responses(
        (status = 200, description = "The images", body = InvokeModelResponse,
            headers(("x-amzn-RequestId" = String))),
        (status = 400, description = "`ValidationException` (the body, the model id, moderation) or `IncompleteSignatureException`", body = BedrockErrorBody,
            headers(("x-amzn-ErrorType" = String))),
        (status = 403, description = "`MissingAuthenticationTokenException`, `UnrecognizedClientException`, `InvalidSignatureException` or `AccessDeniedException`", body = BedrockErrorBody,
            headers(("x-amzn-ErrorType" = String))),
        (status = 408, description = "`ModelTimeoutException`: not finished within `generation.max_wait_secs`", body = BedrockErrorBody,
            headers(("x-amzn-ErrorType" = String))),
        (status = 424, description = "`ModelErrorException`: the engine failed", body = BedrockErrorBody,
            headers(("x-amzn-ErrorType" = String))),
        (status = 429, description = "`ThrottlingException` or `ServiceQuotaExceededException`, with `Retry-After`", body = BedrockErrorBody,
            headers(("x-amzn-ErrorType" = String))),
    ))]
async fn invoke(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    request: Request,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut response = match invoke_inner(&state, &model_id, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amzn-RequestId", value);
    }
    response
}

async fn invoke_inner(
    state: &AppState,
    model_id: &str,
    request: Request,
) -> Result<Response, BedrockError> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, state.generation.max_body_bytes)
        .await
        .map_err(|_| BedrockError::validation("Input is too long for requested model."))?;
    let caller = authenticate(&parts, &body, state).await?;
    if easel_engines::model_family(model_id).is_none() {
        return Err(BedrockError::validation(
            "The provided model identifier is invalid.",
        ));
    }
    let json: Value = serde_json::from_slice(&body).map_err(|e| {
        BedrockError::validation(format!(
            "Malformed input request: {e}, please reformat your input and try again."
        ))
    })?;
    let engine = parts
        .headers
        .get("x-easel-engine")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let input = GenerationInput {
        body: json,
        model: Some(model_id.to_owned()),
        engine,
        output_format: Some("png".to_owned()),
        output_quality: None,
        style: None,
        dialect: Dialect::Bedrock,
        idempotency_key: None,
    };
    let job = generation::submit(state, &caller, input)
        .await
        .map_err(from_generation)?;
    let wait = Duration::from_secs(state.generation.max_wait_secs);
    let job = generation::wait_for(state, job.id, wait)
        .await
        .map_err(from_generation)?;
    generation::finished(&job).map_err(from_generation)?;
    let images: Vec<String> = generation::output_bytes(state, &job)
        .await
        .map_err(from_generation)?
        .iter()
        .map(|bytes| STANDARD.encode(bytes))
        .collect();
    let body = InvokeModelResponse {
        images,
        error: None,
    };
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}
