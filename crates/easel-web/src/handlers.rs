//! The two handlers. The shell gets a strict Content-Security-Policy: scripts, styles,
//! fonts and API calls from this origin only (presigned upload and download URLs are on
//! the same origin), images also from `data:` and `blob:` (previews and canvases), no
//! inline script, no framing.

use axum::extract::Path;
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::assets::{INDEX, content_type, find};

/// The policy of the app shell.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data: blob:; connect-src 'self'; worker-src 'self'; font-src 'self'; manifest-src 'self'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

/// Headers every UI response carries.
const COMMON: [(HeaderName, &str); 3] = [
    (header::CACHE_CONTROL, "no-cache"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    // Presigned URLs carry their signature in the query: never leak them as a referrer.
    (header::REFERRER_POLICY, "no-referrer"),
];

/// `GET /`: the app shell.
pub async fn index() -> Response {
    (
        COMMON,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        INDEX,
    )
        .into_response()
}

/// `GET /ui/{*path}`: an embedded asset, or 404.
pub async fn asset(Path(path): Path<String>) -> Response {
    match find(&path) {
        Some(asset) => (
            COMMON,
            [(header::CONTENT_TYPE, content_type(asset.path))],
            asset.bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use axum::body::to_bytes;
    use axum::extract::Path;
    use axum::http::{StatusCode, header};

    use super::{asset, index};

    /// Runs a future that never waits (the handlers and reading a full body don't), so
    /// the tests need no async runtime.
    fn ready<F: Future>(future: F) -> F::Output {
        match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("the future waited"),
        }
    }

    #[test]
    fn the_shell_has_a_strict_policy() {
        let response = ready(index());
        assert_eq!(response.status(), StatusCode::OK);
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("ASCII");
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
        assert!(!csp.contains("http"), "no other origin: {csp}");
        let body = ready(to_bytes(response.into_body(), usize::MAX)).expect("body");
        let html = std::str::from_utf8(&body).expect("UTF-8");
        assert!(html.contains(r#"src="/ui/app.js""#));
        assert!(!html.contains("<script>"), "no inline script");
    }

    #[test]
    fn assets_are_served_with_their_type_and_unknown_paths_are_404() {
        let response = ready(asset(Path("js/api.js".to_owned())));
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        let missing = ready(asset(Path("../Cargo.toml".to_owned())));
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    }
}
