//! The caller of a request. Until sign-in exists every request acts as the single local
//! principal; handlers already take the caller from this extractor, so authentication
//! only has to fill it in.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use easel_core::Principal;

use crate::ApiError;

/// The principal making the request.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(_parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Caller(Principal::local()))
    }
}
