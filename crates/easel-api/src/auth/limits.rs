//! The rate limit as HTTP reports it: the [`rate_headers`] middleware adds the bucket's
//! `x-ratelimit-limit|remaining|reset` to every rate-limited response, from the state
//! the caller extractor left in the request's [`RateSlot`]. The limits themselves are
//! the usage service's.

use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use easel_services::identity::Authenticated;
use easel_services::{RateInfo, ServiceError};

use crate::AppState;
use crate::error::write_rate_headers;

/// Where the extractor leaves the bucket's state for [`rate_headers`].
#[derive(Debug, Clone, Default)]
pub struct RateSlot(Arc<Mutex<Option<RateInfo>>>);

/// Middleware: adds the bucket's `x-ratelimit-*` headers to the response of every
/// request that was rate limited.
pub async fn rate_headers(mut request: Request, next: Next) -> Response {
    let slot = RateSlot::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    let info = *slot.0.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(info) = info {
        write_rate_headers(&info, response.headers_mut());
    }
    response
}

/// Takes a token from the caller's bucket and leaves its state for the response
/// headers; `Limited` `rate-limited` when it is empty.
pub async fn take_rate_token(
    parts: &Parts,
    state: &AppState,
    caller: &Authenticated,
) -> Result<(), ServiceError> {
    let info = state
        .services
        .usage
        .take_rate_token(&caller.principal.id, caller.plan.as_deref())
        .await?;
    if let (Some(info), Some(slot)) = (info, parts.extensions.get::<RateSlot>()) {
        *slot.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(info);
    }
    Ok(())
}
