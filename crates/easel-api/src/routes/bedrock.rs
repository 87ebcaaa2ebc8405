//! The Bedrock-compatible endpoint: `POST /model/{modelId}/invoke` takes the InvokeModel
//! body of Titan Image Generator v2 or Nova Canvas and answers exactly like Bedrock
//! (`{"images":[…],"error":null}`; errors with `x-amzn-ErrorType` and `{"message"}`), so
//! the AWS SDKs and CLI work against Easel with only the endpoint changed. Callers sign
//! with SigV4 using access keys created in Easel (`POST /v1/keys {"type":"access-key"}`),
//! or send an Easel API key or access token as a bearer token (Bedrock's API keys).

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use easel_core::{Dialect, EngineErrorCode, OutputFormat, Principal, now_millis};
use easel_services::generation::{GenError, GenerationInput, finished};
use easel_services::identity;
use easel_services::{ErrorKind, ServiceError};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::sigv4::{self, SigV4Error};
use crate::auth::{Authenticated, RequestMeta, api_key_header, limits};
use crate::openapi::bedrock_body::InvokeModelBody;
use crate::routes::{Access, Routes};

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

/// A service error in Bedrock's words.
fn from_service(error: ServiceError) -> BedrockError {
    let message = error.message().to_owned();
    match error.kind() {
        ErrorKind::Unauthenticated => BedrockError::new(
            StatusCode::FORBIDDEN,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        ErrorKind::Forbidden => {
            BedrockError::new(StatusCode::FORBIDDEN, "AccessDeniedException", message)
        }
        ErrorKind::Limited => {
            let kind = if error.code() == "quota-exceeded" {
                "ServiceQuotaExceededException"
            } else {
                "ThrottlingException"
            };
            BedrockError {
                retry_after: Some(error.retry_after().unwrap_or(1)),
                ..BedrockError::new(StatusCode::TOO_MANY_REQUESTS, kind, message)
            }
        }
        ErrorKind::TooLarge => BedrockError::validation("Input is too long for requested model."),
        ErrorKind::Unavailable => BedrockError {
            retry_after: error.retry_after(),
            ..BedrockError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailableException",
                message,
            )
        },
        ErrorKind::Internal | ErrorKind::Upstream | ErrorKind::Timeout => BedrockError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerException",
            "The server encountered an internal error while processing the request.",
        ),
        _ => BedrockError::validation(message),
    }
}

impl From<GenError> for BedrockError {
    fn from(error: GenError) -> Self {
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
            GenError::Engine { code, message } => match code {
                EngineErrorCode::Throttled => BedrockError {
                    retry_after: Some(5),
                    ..BedrockError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "ThrottlingException",
                        message,
                    )
                },
                EngineErrorCode::Unavailable => BedrockError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailableException",
                    message,
                ),
                EngineErrorCode::Cancelled
                | EngineErrorCode::Failed
                | EngineErrorCode::Internal => BedrockError::new(
                    StatusCode::FAILED_DEPENDENCY,
                    "ModelErrorException",
                    message,
                ),
                _ => BedrockError::validation(message),
            },
            GenError::Service(error) => from_service(error),
        }
    }
}

impl From<ServiceError> for BedrockError {
    fn from(error: ServiceError) -> Self {
        from_service(error)
    }
}

/// An InvokeModel request: the caller (a SigV4 signature by an Easel access key, or the
/// usual bearer credentials) with its rate limit taken, and the body the signature
/// covers. Refusals are Bedrock's.
struct Invocation {
    caller: Principal,
    body: Bytes,
    engine: Option<String>,
}

impl FromRequest<AppState> for Invocation {
    type Rejection = BedrockError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let body = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|_| BedrockError::validation("Input is too long for requested model."))?;
        let authenticated = if sigv4::is_sigv4(&parts) {
            signed_caller(&parts, &body, state).await?
        } else {
            bearer_caller(&mut parts, state).await?
        };
        limits::take_rate_token(&parts, state, &authenticated)
            .await
            .map_err(from_service)?;
        let engine = parts
            .headers
            .get("x-easel-engine")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Invocation {
            caller: authenticated.principal,
            body,
            engine,
        })
    }
}

/// The owner of the access key that signed the request, once the signature checks.
async fn signed_caller(
    parts: &Parts,
    body: &[u8],
    state: &AppState,
) -> Result<identity::Authenticated, BedrockError> {
    let header = sigv4::parse_header(parts).map_err(|e| match e {
        SigV4Error::Malformed(m) | SigV4Error::BadSignature(m) => {
            BedrockError::new(StatusCode::BAD_REQUEST, "IncompleteSignatureException", m)
        }
    })?;
    let RequestMeta(context) = RequestMeta::from_parts(parts);
    let identity = &state.services.identity;
    let holder = identity.access_key(&context, &header.access_key_id).await?;
    let checked = sigv4::verify(
        parts,
        body,
        &header,
        &holder.secret,
        "bedrock",
        now_millis() / 1000,
    );
    if let Err(SigV4Error::Malformed(m) | SigV4Error::BadSignature(m)) = checked {
        identity
            .signature_refused(&context, &header.access_key_id)
            .await;
        return Err(BedrockError::new(
            StatusCode::FORBIDDEN,
            "InvalidSignatureException",
            m,
        ));
    }
    // One rule for every credential presented: an API key sent alongside must be valid
    // and name the same principal.
    let also: Vec<_> = api_key_header(&parts.headers).into_iter().collect();
    identity
        .confirm_presented(&context, &holder.authenticated, &also)
        .await?;
    Ok(holder.authenticated)
}

/// A caller with Easel's bearer credentials (Bedrock's API keys).
async fn bearer_caller(
    parts: &mut Parts,
    state: &AppState,
) -> Result<identity::Authenticated, BedrockError> {
    match Authenticated::resolve(parts, state).await {
        Ok(Authenticated(found)) => Ok(found),
        Err(e) if e.kind() == ErrorKind::Unauthenticated && !has_credentials(parts) => {
            Err(BedrockError::new(
                StatusCode::FORBIDDEN,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ))
        }
        Err(e) => Err(from_service(e)),
    }
}

fn has_credentials(parts: &Parts) -> bool {
    parts.headers.contains_key("x-api-key") || parts.headers.contains_key(header::AUTHORIZATION)
}

/// The models whose InvokeModel bodies Easel accepts.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // described only: `easel_engines::model_family` reads the id
enum ModelId {
    /// Titan Image Generator v2.
    #[serde(rename = "amazon.titan-image-generator-v2:0")]
    TitanImageV2,
    /// Nova Canvas.
    #[serde(rename = "amazon.nova-canvas-v1:0")]
    NovaCanvas,
}

/// Bedrock's InvokeModel for Titan Image Generator v2 and Nova Canvas: the AWS SDKs and
/// CLI work with only the endpoint changed. Sign with SigV4 (service `bedrock`) using an
/// Easel access key, or send an Easel API key or access token as a bearer token.
/// `x-easel-engine` names the engine to use for the tasks it can do (others go to the
/// first engine that can, so a client may set it once for every request). Errors are
/// Bedrock's: `{"message"}` with the type in `x-amzn-ErrorType`.
#[utoipa::path(post, path = "/model/{model_id}/invoke", tag = "bedrock",
    params(("model_id" = inline(ModelId), Path, description = "Whose request rules apply"),
        ("x-easel-engine" = Option<String>, Header, description = "An Easel engine by name (`GET /v1/engines`), used for the tasks it can do")),
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
        (status = 500, description = "`InternalServerException`", body = BedrockErrorBody,
            headers(("x-amzn-ErrorType" = String))),
        (status = 503, description = "`ServiceUnavailableException`: the engine cannot run now (its model is not installed, or its provider is unavailable)", body = BedrockErrorBody,
            headers(("x-amzn-ErrorType" = String))),
    ))]
async fn invoke(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    invocation: Result<Invocation, BedrockError>,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let outcome = match invocation {
        Ok(invocation) => run(&state, &model_id, invocation).await,
        Err(error) => Err(error),
    };
    let mut response = outcome.unwrap_or_else(IntoResponse::into_response);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amzn-RequestId", value);
    }
    response
}

async fn run(
    state: &AppState,
    model_id: &str,
    invocation: Invocation,
) -> Result<Response, BedrockError> {
    if easel_engines::model_family(model_id).is_none() {
        return Err(BedrockError::validation(
            "The provided model identifier is invalid.",
        ));
    }
    let mut json: Value = serde_json::from_slice(&invocation.body).map_err(|e| {
        BedrockError::validation(format!(
            "Malformed input request: {e}, please reformat your input and try again."
        ))
    })?;
    // Bedrock itself refuses `2.0` where an integer goes, though JSON Schema (and its own
    // documentation) counts it as one; Easel takes it, as on its other routes.
    crate::extract::whole_numbers_as_integers(&mut json);
    let input = GenerationInput {
        body: json,
        model: Some(model_id.to_owned()),
        engine: invocation.engine,
        engine_preferred: true,
        output_format: Some(OutputFormat::Png),
        output_quality: None,
        style: None,
        dialect: Dialect::Bedrock,
        idempotency_key: None,
        callback_url: None,
    };
    let generation = &state.services.generation;
    let job = generation
        .submit_and_wait(&invocation.caller, input, generation.max_wait())
        .await?;
    finished(&job)?;
    let images: Vec<String> = generation
        .output_bytes(&job)
        .await?
        .iter()
        .map(|bytes| STANDARD.encode(bytes))
        .collect();
    let body = InvokeModelResponse {
        images,
        error: None,
    };
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}
