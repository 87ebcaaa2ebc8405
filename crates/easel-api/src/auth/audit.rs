//! [`RequestMeta`]: where a request came from (peer address, user agent, request id),
//! handed to services as their transport-neutral [`RequestContext`].

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use easel_services::audit::RequestContext;

/// Where a request came from.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta(pub RequestContext);

impl RequestMeta {
    /// Reads the metadata of a request.
    pub fn from_parts(parts: &Parts) -> RequestMeta {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.chars().take(256).collect())
        };
        RequestMeta(RequestContext {
            ip: parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string()),
            user_agent: header("user-agent"),
            request_id: header("x-request-id"),
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestMeta::from_parts(parts))
    }
}
