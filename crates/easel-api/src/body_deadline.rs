//! A minimum data rate for request bodies (slowloris on bodies), as Kestrel's
//! `MinRequestBodyDataRate`: after a grace period from the end of the headers, the bytes
//! received must keep up with `[server] body_min_bytes_per_sec`. A large upload over a
//! slow but working link passes; a client trickling a byte every few seconds is cut off.
//! Then the body fails, the handler gives up as on any broken body (an upload keeps
//! nothing), and the answer is `408 body-timeout` with `Connection: close`, whatever the
//! handler made of the failure. Requests without a body are not touched.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use crate::ApiError;

/// Whether the request carries a body (a length above zero, or a chunked one).
fn has_body(request: &Request) -> bool {
    let headers = request.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// How fast bodies must arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyRate {
    /// Bytes per second the body must average once the grace period is over.
    pub min_bytes_per_sec: u64,
    /// How long a body may take before the rate applies.
    pub grace: Duration,
}

impl BodyRate {
    /// When byte `received + 1` must have arrived, counting from `start`.
    fn deadline(&self, start: tokio::time::Instant, received: u64) -> tokio::time::Instant {
        let rate = self.min_bytes_per_sec.max(1);
        start + self.grace + Duration::from_millis(received.saturating_mul(1000) / rate)
    }
}

/// The middleware.
pub async fn body_deadline(State(rate): State<BodyRate>, request: Request, next: Next) -> Response {
    if !has_body(&request) {
        return next.run(request).await;
    }
    let timed_out = Arc::new(AtomicBool::new(false));
    let start = tokio::time::Instant::now();
    let flag = timed_out.clone();
    let (parts, body) = request.into_parts();
    let stream = body.into_data_stream();
    let guarded = futures::stream::unfold(Some((stream, 0u64)), move |state| {
        let flag = flag.clone();
        async move {
            let (mut stream, received) = state?;
            let deadline = rate.deadline(start, received);
            match tokio::time::timeout_at(deadline, stream.next()).await {
                Ok(Some(Ok(bytes))) => {
                    let received = received + bytes.len() as u64;
                    Some((Ok(bytes), Some((stream, received))))
                }
                Ok(Some(Err(error))) => Some((Err(error), None)),
                Ok(None) => None,
                Err(_) => {
                    flag.store(true, Ordering::Relaxed);
                    let error = axum::Error::new("the request body did not arrive in time");
                    Some((Err(error), None))
                }
            }
        }
    });
    let request = Request::from_parts(parts, Body::from_stream(guarded));
    let response = next.run(request).await;
    if !timed_out.load(Ordering::Relaxed) {
        return response;
    }
    metrics::counter!("easel_http_body_timeouts_total").increment(1);
    let mut response = ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "body-timeout",
        format!(
            "the request body arrived slower than {} bytes a second; the connection is closed",
            rate.min_bytes_per_sec
        ),
    )
    .into_response();
    // The rest of the body is never read: the connection cannot be reused.
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_moves_with_the_bytes_received() {
        let rate = BodyRate {
            min_bytes_per_sec: 1000,
            grace: Duration::from_secs(5),
        };
        let start = tokio::time::Instant::now();
        assert_eq!(rate.deadline(start, 0), start + Duration::from_secs(5));
        // 2 000 bytes in: two more seconds.
        assert_eq!(rate.deadline(start, 2_000), start + Duration::from_secs(7));
        // No overflow for absurd counts.
        assert!(rate.deadline(start, u64::MAX) > start);
    }
}
