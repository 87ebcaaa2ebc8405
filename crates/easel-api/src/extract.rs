//! Extractors whose rejections speak the one error shape with stable codes: JSON
//! bodies, query strings and the `Idempotency-Key` header.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use easel_core::IdempotencyKey;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// A JSON request body. Rejections: 415 without a JSON content type, 413 over the body
/// limit, 400 `malformed-json` for broken syntax, 400 `invalid-request` for wrong fields.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send the body as JSON with `Content-Type: application/json`",
        ),
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(
            "malformed-json",
            format!("the body is not valid JSON: {}", inner_message(&e)),
        ),
        JsonRejection::JsonDataError(e) => {
            ApiError::bad_request("invalid-request", inner_message(&e))
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "the request body is larger than this route accepts",
        ),
        other => ApiError::bad_request("invalid-request", other.body_text()),
    }
}

/// The serde message (with the field path) without axum's generic prefix.
fn inner_message(error: &dyn std::error::Error) -> String {
    error
        .source()
        .map_or_else(|| error.to_string(), |source| source.to_string())
}

/// A query string. Rejection: 400 `invalid-query`.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(QueryParams(value)),
            Err(rejection @ QueryRejection::FailedToDeserializeQueryString(_)) => Err(
                ApiError::bad_request("invalid-query", rejection.body_text()),
            ),
            Err(other) => Err(ApiError::bad_request("invalid-query", other.body_text())),
        }
    }
}

/// The `Idempotency-Key` header, when sent: one rule for every route
/// ([`IdempotencyKey::parse`]). Rejection: 400 `invalid-idempotency-key`.
pub struct IdempotencyKeyHeader(pub Option<IdempotencyKey>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKeyHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(IdempotencyKeyHeader(None));
        };
        IdempotencyKey::parse(value.as_bytes())
            .map(|key| IdempotencyKeyHeader(Some(key)))
            .map_err(|error| ApiError::bad_request("invalid-idempotency-key", error.to_string()))
    }
}
