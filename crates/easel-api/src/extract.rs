//! Extractors whose rejections speak the one error shape with stable codes: JSON
//! bodies, query strings and the `Idempotency-Key` header.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use easel_core::IdempotencyKey;
use serde::de::DeserializeOwned;
use serde_json::{Number, Value};

use crate::ApiError;

/// A JSON request body. Rejections: 415 without a JSON content type, 413 over the body
/// limit, 400 `malformed-json` for broken syntax, 400 `invalid-request` for wrong fields.
///
/// A whole-number float (`92.0`) is read as the integer it is: JSON Schema counts it as
/// an integer, so a field the document calls `integer` takes it.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let mut value = match axum::Json::<Value>::from_request(request, state).await {
            Ok(axum::Json(value)) => value,
            Err(rejection) => return Err(json_rejection(rejection)),
        };
        whole_numbers_as_integers(&mut value);
        serde_path_to_error::deserialize(value)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request("invalid-request", e.to_string()))
    }
}

/// Rewrites every float with no fractional part that fits an `i64` or `u64` as that
/// integer (`92.0` → `92`), anywhere in the value. Other numbers are left as they are.
pub(crate) fn whole_numbers_as_integers(value: &mut Value) {
    match value {
        Value::Number(number) if number.is_f64() => {
            let float = number.as_f64().unwrap_or(f64::NAN);
            // 2^63 and 2^64 are exact floats; below them every whole float converts.
            let integer = if float.fract() != 0.0 {
                None
            } else if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&float) {
                Some(Number::from(float as i64))
            } else if (0.0..1.844_674_407_370_955_2e19).contains(&float) {
                Some(Number::from(float as u64))
            } else {
                None
            };
            if let Some(integer) = integer {
                *number = integer;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::whole_numbers_as_integers;

    #[test]
    fn whole_floats_become_integers_and_others_stay() {
        let mut value = json!({
            "limit": 92.0, "negative": -3.0, "list": [1.0, 1.5, {"deep": 4.0}],
            "huge": 1e300, "half": 0.5, "big": 1.8e19, "int": 7, "text": "1.0"
        });
        whole_numbers_as_integers(&mut value);
        assert_eq!(
            value,
            json!({
                "limit": 92, "negative": -3, "list": [1, 1.5, {"deep": 4}],
                "huge": 1e300, "half": 0.5, "big": 18_000_000_000_000_000_000_u64, "int": 7,
                "text": "1.0"
            })
        );
        assert!(value["limit"].is_u64() && value["big"].is_u64());
    }
}
