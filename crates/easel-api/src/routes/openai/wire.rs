//! OpenAI's wire format: its error shape (`{"error":{"message","type","param","code"}}`),
//! the request bodies (JSON for generations, multipart for edits and variations) and
//! the extractors that read them and the caller, each refusing in that shape.

use axum::Json;
use axum::body::Bytes;
use axum::extract::multipart::Multipart;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use easel_core::{OutputFormat, Principal, Quality};
use easel_services::generation::{GenError, parse_output_format};
use easel_services::{ErrorKind, ServiceError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::{Authenticated, limits};
use crate::error::status_of;

/// An error in OpenAI's shape.
pub struct OpenAiError {
    status: StatusCode,
    kind: &'static str,
    code: Option<&'static str>,
    param: Option<String>,
    message: String,
}

impl OpenAiError {
    /// 400 `invalid_request_error`, naming the field at fault.
    pub fn invalid(param: Option<&str>, message: impl Into<String>) -> Self {
        OpenAiError {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code: None,
            param: param.map(str::to_owned),
            message: message.into(),
        }
    }

    /// A required field that is absent, in OpenAI's words.
    pub fn missing(param: &str) -> Self {
        Self::invalid(
            Some(param),
            format!("Missing required parameter: '{param}'."),
        )
    }
}

/// OpenAI's error body.
#[derive(Serialize, ToSchema)]
pub(in crate::routes) struct OpenAiErrorBody {
    error: OpenAiErrorDetail,
}

/// The fields of [`OpenAiErrorBody`].
#[derive(Serialize, ToSchema)]
struct OpenAiErrorDetail {
    message: String,
    /// `invalid_request_error`, `insufficient_quota`, `requests` or `server_error`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    kind: &'static str,
    /// The request field at fault, when one is.
    param: Option<String>,
    /// `invalid_api_key`, `rate_limit_exceeded`, `content_policy_violation`, …
    #[schema(value_type = Option<String>)]
    code: Option<&'static str>,
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let body = OpenAiErrorBody {
            error: OpenAiErrorDetail {
                message: self.message,
                kind: self.kind,
                param: self.param,
                code: self.code,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<ServiceError> for OpenAiError {
    fn from(error: ServiceError) -> Self {
        let (status, kind, code) = match (error.kind(), error.code()) {
            (ErrorKind::Unauthenticated, _) => (
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                Some("invalid_api_key"),
            ),
            (ErrorKind::Limited, "quota-exceeded") => (
                StatusCode::TOO_MANY_REQUESTS,
                "insufficient_quota",
                Some("insufficient_quota"),
            ),
            (ErrorKind::Limited, _) => (
                StatusCode::TOO_MANY_REQUESTS,
                "requests",
                Some("rate_limit_exceeded"),
            ),
            (kind, _) => {
                let status = status_of(kind);
                if status.is_client_error() {
                    (status, "invalid_request_error", None)
                } else if status == StatusCode::SERVICE_UNAVAILABLE {
                    (status, "server_error", None)
                } else {
                    (StatusCode::INTERNAL_SERVER_ERROR, "server_error", None)
                }
            }
        };
        OpenAiError {
            status,
            kind,
            code,
            param: None,
            message: error.message().to_owned(),
        }
    }
}

impl From<GenError> for OpenAiError {
    fn from(error: GenError) -> Self {
        match error {
            GenError::Invalid { message, pointer } => OpenAiError::invalid(
                pointer
                    .as_deref()
                    .map(|p| p.rsplit('/').next().unwrap_or(p)),
                message,
            ),
            GenError::BadOption { field, message, .. } => {
                OpenAiError::invalid(Some(openai_field(field)), message)
            }
            GenError::Unsupported(message) => OpenAiError::invalid(None, message),
            GenError::Unavailable(message) => OpenAiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                kind: "server_error",
                code: Some("engine_unavailable"),
                param: None,
                message,
            },
            GenError::Refused(message) => OpenAiError {
                code: Some("content_policy_violation"),
                ..OpenAiError::invalid(
                    Some("prompt"),
                    format!(
                        "Your request was rejected as a result of our safety system. {message}"
                    ),
                )
            },
            GenError::Timeout(id) => OpenAiError {
                status: StatusCode::GATEWAY_TIMEOUT,
                kind: "server_error",
                code: Some("timeout"),
                param: None,
                message: format!(
                    "the generation {id} did not finish in time; see GET /v1/history/{id}"
                ),
            },
            GenError::Engine { code, message } => OpenAiError {
                status: match code {
                    easel_core::EngineErrorCode::Throttled => StatusCode::TOO_MANY_REQUESTS,
                    easel_core::EngineErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::BAD_GATEWAY,
                },
                kind: "server_error",
                code: None,
                param: None,
                message,
            },
            GenError::Service(error) => error.into(),
        }
    }
}

/// A native option's name as OpenAI's requests spell it.
fn openai_field(native: &'static str) -> &'static str {
    match native {
        "outputFormat" => "output_format",
        "outputQuality" => "output_compression",
        other => other,
    }
}

/// The caller of an OpenAI route, with its rate limit taken; refusals in OpenAI's shape
/// (and audited by the identity service like every route's).
pub struct OpenAiCaller(pub Principal);

impl FromRequestParts<AppState> for OpenAiCaller {
    type Rejection = OpenAiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Authenticated(caller) = Authenticated::resolve(parts, state).await?;
        limits::take_rate_token(parts, state, &caller).await?;
        Ok(OpenAiCaller(caller.principal))
    }
}

/// A JSON body of type `T` under the route's body limit.
pub struct OpenAiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned> FromRequest<AppState> for OpenAiJson<T> {
    type Rejection = OpenAiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|_| OpenAiError::invalid(None, "the request body is too large"))?;
        let unreadable = |e: serde_json::Error| {
            OpenAiError::invalid(
                None,
                format!("We could not parse the JSON body of your request: {e}"),
            )
        };
        // Whole-number floats are integers, as for native JSON bodies.
        let mut value: serde_json::Value = serde_json::from_slice(&bytes).map_err(unreadable)?;
        crate::extract::whole_numbers_as_integers(&mut value);
        serde_json::from_value(value)
            .map(OpenAiJson)
            .map_err(unreadable)
    }
}

/// A multipart body: the image and mask files, and the other fields as text.
pub struct ImageForm {
    /// The image (`image`, or the first `image[]`).
    pub image: Option<Bytes>,
    /// The mask.
    pub mask: Option<Bytes>,
    /// The options.
    pub options: RawOptions,
    /// `prompt`.
    pub prompt: Option<String>,
}

impl FromRequest<AppState> for ImageForm {
    type Rejection = OpenAiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let multipart = Multipart::from_request(request, state).await.map_err(|e| {
            OpenAiError::invalid(None, format!("the body must be multipart/form-data: {e}"))
        })?;
        ImageForm::read(multipart).await
    }
}

impl ImageForm {
    /// Reads every field of `multipart`: the image (the first `image` or `image[]`), the
    /// mask, and the other fields as UTF-8 text.
    pub async fn read(mut multipart: Multipart) -> Result<Self, OpenAiError> {
        let mut form = ImageForm {
            image: None,
            mask: None,
            options: RawOptions::default(),
            prompt: None,
        };
        while let Some(field) = multipart.next_field().await.map_err(|e| {
            OpenAiError::invalid(None, format!("the multipart body is malformed: {e}"))
        })? {
            let name = field.name().unwrap_or_default().to_owned();
            if !is_field_name(&name) {
                return Err(OpenAiError::invalid(
                    None,
                    format!("{name:?} is not a field name: {FIELD_NAME_RULE}"),
                ));
            }
            let bytes = field.bytes().await.map_err(|e| {
                OpenAiError::invalid(Some(&name), format!("could not read '{name}': {e}"))
            })?;
            match name.as_str() {
                // gpt-image models send `image[]`; the first image is the one edited.
                "image" | "image[]" => {
                    form.image.get_or_insert(bytes);
                }
                "mask" => form.mask = Some(bytes),
                _ => {
                    let text = String::from_utf8(bytes.to_vec()).map_err(|_| {
                        OpenAiError::invalid(Some(&name), format!("'{name}' is not text"))
                    })?;
                    form.set(&name, text);
                }
            }
        }
        Ok(form)
    }
}

/// What a form field's name may hold (the document's `propertyNames`,
/// `openapi::patterns::FORM_FIELD_NAME`).
pub const FIELD_NAME_RULE: &str = "1 to 64 ASCII letters, digits, `_`, `.`, `-`, `[` and `]`";
/// Whether `name` follows [`FIELD_NAME_RULE`].
fn is_field_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-[]".contains(&b))
}

impl ImageForm {
    fn set(&mut self, name: &str, text: String) {
        let options = &mut self.options;
        match name {
            "prompt" => self.prompt = Some(text),
            "n" => options.n = Some(Count::Text(text)),
            "size" => options.size = Some(text),
            "response_format" => options.response_format = Some(text),
            "model" => options.model = Some(text),
            "quality" => options.quality = Some(text),
            "engine" => options.engine = Some(text),
            "output_format" => options.output_format = Some(text),
            // Fields OpenAI's SDKs send that Easel does not use (`user`, `style`, …).
            _ => {}
        }
    }
}

/// `n` as JSON (a number) or a form field (text).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Count {
    /// From JSON.
    Number(u64),
    /// From a form.
    Text(String),
}

/// The options every route shares, as sent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawOptions {
    n: Option<Count>,
    size: Option<String>,
    response_format: Option<String>,
    model: Option<String>,
    quality: Option<String>,
    engine: Option<String>,
    output_format: Option<String>,
}

/// The options every route shares, parsed.
pub struct ImageOptions {
    /// Images to make, 1 to 10.
    pub n: u32,
    /// `WIDTHxHEIGHT`; `None`: `auto` or absent.
    pub size: Option<(u32, u32)>,
    /// `response_format=b64_json`.
    pub b64: bool,
    /// A Bedrock model id (OpenAI model names use the default model).
    pub model: Option<String>,
    /// An engine by name.
    pub engine: Option<String>,
    /// The output encoding.
    pub output_format: Option<OutputFormat>,
    /// `hd`/`high`: Titan's premium.
    pub quality: Quality,
}

fn parse_size(text: &str) -> Result<Option<(u32, u32)>, OpenAiError> {
    if text == "auto" {
        return Ok(None);
    }
    let bad = || {
        OpenAiError::invalid(
            Some("size"),
            format!("'{text}' is not a size like '1024x1024'"),
        )
    };
    let (w, h) = text.split_once('x').ok_or_else(bad)?;
    Ok(Some((
        w.parse().map_err(|_| bad())?,
        h.parse().map_err(|_| bad())?,
    )))
}

impl RawOptions {
    /// Parses every option, naming the one at fault.
    pub fn parse(self) -> Result<ImageOptions, OpenAiError> {
        let n = match self.n {
            None => Some(1),
            Some(Count::Number(n)) => Some(n),
            Some(Count::Text(text)) => text.trim().parse().ok(),
        }
        .filter(|n| (1..=10).contains(n))
        .ok_or_else(|| OpenAiError::invalid(Some("n"), "'n' must be an integer from 1 to 10"))?;
        let b64 = match self.response_format.as_deref() {
            None | Some("url") => false,
            Some("b64_json") => true,
            Some(other) => {
                return Err(OpenAiError::invalid(
                    Some("response_format"),
                    format!("'{other}' is not one of ['url', 'b64_json'] - 'response_format'"),
                ));
            }
        };
        let output_format = self
            .output_format
            .as_deref()
            .map(parse_output_format)
            .transpose()?;
        Ok(ImageOptions {
            n: n as u32,
            size: self.size.as_deref().map(parse_size).transpose()?.flatten(),
            b64,
            // A Bedrock model id picks its request rules; OpenAI model names use the
            // default.
            model: self
                .model
                .filter(|m| easel_engines::model_family(m).is_some()),
            engine: self.engine,
            output_format,
            quality: match self.quality.as_deref() {
                Some("hd" | "high") => Quality::Premium,
                _ => Quality::Standard,
            },
        })
    }
}

/// `POST /v1/images/generations`.
#[derive(Deserialize, ToSchema)]
pub struct GenerationsRequest {
    /// Required.
    /// 1 to 512 characters (1024 with `model` `amazon.nova-canvas-v1:0`).
    #[schema(required = true, nullable = false, min_length = 1, max_length = 512)]
    pub prompt: Option<String>,
    /// What to keep out of the image; as long as `prompt` may be.
    #[schema(min_length = 1, max_length = 512)]
    pub negative_prompt: Option<String>,
    /// 1 to 5 (the Titan request's most images): a number, or the same as text.
    #[schema(schema_with = crate::openapi::openai::count_schema)]
    #[serde(default)]
    pub n: Option<Count>,
    /// `WIDTHxHEIGHT` or `auto`.
    #[schema(schema_with = crate::openapi::openai::size_or_null_schema)]
    pub size: Option<String>,
    /// `url` (default) or `b64_json`.
    #[schema(schema_with = crate::openapi::openai::response_format_or_null_schema)]
    pub response_format: Option<String>,
    /// A Bedrock model id picks its rules; OpenAI model names use the default model.
    pub model: Option<String>,
    /// `hd`/`high`: Titan's `premium` quality.
    pub quality: Option<String>,
    /// 0 to 2147483646 (858993459 with `model` `amazon.nova-canvas-v1:0`).
    #[schema(value_type = Option<u32>, maximum = 2147483646_i64)]
    pub seed: Option<Value>,
    /// Easel's: an engine by name.
    pub engine: Option<String>,
    /// Easel's: `png`, `jpeg` or `webp`.
    #[schema(schema_with = crate::openapi::openai::output_format_or_null_schema)]
    pub output_format: Option<String>,
}

impl GenerationsRequest {
    /// The shared options.
    pub fn options(&mut self) -> RawOptions {
        RawOptions {
            n: self.n.take(),
            size: self.size.take(),
            response_format: self.response_format.take(),
            model: self.model.take(),
            quality: self.quality.take(),
            engine: self.engine.take(),
            output_format: self.output_format.take(),
        }
    }
}
