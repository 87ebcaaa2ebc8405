//! One error shape for every native route:
//! `{"error":{"code":"stable-kebab-code","message":"…","requestId":"…"}}`.
//! Handlers return [`ApiError`]; the [`render_errors`] middleware writes the body, adding
//! the request id, and also gives the same shape to errors that never passed through a
//! handler (unknown route, wrong method, timeouts). A 5xx never carries internal detail:
//! the detail goes to the log.

use std::fmt::Display;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use easel_services::{ErrorKind, RateInfo, ServiceError};

/// An error answered to the client.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
    www_authenticate: bool,
    rate: Option<RateInfo>,
}

/// The body of every native error response. The OpenAPI document describes errors with
/// this type, and [`render_errors`] writes it, so the two cannot disagree.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The fields of [`ErrorBody`].
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    /// A stable kebab-case code to branch on, e.g. `job-not-found`.
    #[schema(example = "job-not-found")]
    pub code: String,
    /// A message for people; it may change.
    pub message: String,
    /// The request's id, also in the `x-request-id` header and the server's logs.
    pub request_id: String,
}

/// The code and message of an error response, carried to [`render_errors`].
#[derive(Debug, Clone)]
struct ErrorInfo {
    code: &'static str,
    message: String,
}

impl ApiError {
    /// An error with an explicit status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            www_authenticate: false,
            rate: None,
        }
    }

    /// 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 with `code`.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 500: logs `detail` with the request's span and tells the client nothing more.
    pub fn internal(detail: impl Display) -> Self {
        tracing::error!(detail = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal-error",
            "something went wrong on our side; the request id identifies it in the logs",
        )
    }

    /// 503, with a `Retry-After` hint in seconds.
    pub fn unavailable(code: &'static str, message: impl Into<String>, retry_after: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
        }
    }

    /// Adds `Retry-After` (seconds).
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Adds `WWW-Authenticate: Bearer` (401s).
    pub fn with_www_authenticate(mut self) -> Self {
        self.www_authenticate = true;
        self
    }

    /// Adds `x-ratelimit-*` headers (429s).
    pub fn with_rate(mut self, rate: RateInfo) -> Self {
        self.rate = Some(rate);
        self
    }

    /// 403 `forbidden`: the caller is known but may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The HTTP status of a service error's kind.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::UnsupportedMedia => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Limited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Upstream => StatusCode::BAD_GATEWAY,
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        ApiError {
            status: status_of(error.kind()),
            code: error.code(),
            message: error.message().to_owned(),
            retry_after: error.retry_after(),
            www_authenticate: error.kind() == ErrorKind::Unauthenticated,
            rate: error.rate(),
        }
    }
}

impl From<easel_services::generation::GenError> for ApiError {
    fn from(error: easel_services::generation::GenError) -> Self {
        error.into_service().into()
    }
}

/// Writes a rate limit's `x-ratelimit-*` headers (keeping ones already there).
pub fn write_rate_headers(rate: &RateInfo, headers: &mut axum::http::HeaderMap) {
    for (name, value) in [
        ("x-ratelimit-limit", rate.limit),
        ("x-ratelimit-remaining", rate.remaining),
        ("x-ratelimit-reset", rate.reset_secs),
    ] {
        if !headers.contains_key(name) {
            headers.insert(name, HeaderValue::from(value));
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.www_authenticate {
            let code = if self.code == "invalid-token" {
                r#"Bearer realm="easel", error="invalid_token""#
            } else {
                r#"Bearer realm="easel""#
            };
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(code));
        }
        if let Some(rate) = self.rate {
            write_rate_headers(&rate, response.headers_mut());
        }
        response.extensions_mut().insert(ErrorInfo {
            code: self.code,
            message: self.message,
        });
        response
    }
}

/// Writes error bodies in the one shape, with the request id.
pub async fn render_errors(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let response = next.run(request).await;
    let status = response.status();
    let info = match response.extensions().get::<ErrorInfo>() {
        Some(info) => info.clone(),
        None if status.is_client_error() || status.is_server_error() => {
            if response
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"application/json"))
            {
                return response; // already rendered (a compatible route's own shape)
            }
            fallback_info(status)
        }
        None => return response,
    };
    let (mut parts, _) = response.into_parts();
    let body = ErrorBody {
        error: ErrorDetail {
            code: info.code.to_owned(),
            message: info.message,
            request_id,
        },
    };
    let body = serde_json::to_string(&body).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

fn fallback_info(status: StatusCode) -> ErrorInfo {
    let (code, message) = match status {
        StatusCode::NOT_FOUND => ("route-not-found", "no route matches this path"),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method-not-allowed",
            "this route does not accept this HTTP method",
        ),
        StatusCode::REQUEST_TIMEOUT => ("request-timeout", "the request took too long"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload-too-large", "the request body is too large"),
        StatusCode::TOO_MANY_REQUESTS => ("rate-limited", "too many requests"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported-media-type",
            "the request's Content-Type is not accepted here",
        ),
        s if s.is_server_error() => (
            "internal-error",
            "something went wrong on our side; the request id identifies it in the logs",
        ),
        _ => ("bad-request", "the request was not accepted"),
    };
    ErrorInfo {
        code,
        message: message.to_owned(),
    }
}
