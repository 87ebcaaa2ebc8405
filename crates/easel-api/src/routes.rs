//! The router: every route with who may call it, its body limits and the middleware
//! stack. Routes are registered through [`Routes`], which records each path, method
//! and [`Access`] class as it adds it, so [`route_table`] (and the authorization
//! matrix test built from it) always lists exactly what is served.

mod account;
mod alarms;
mod bedrock;
mod docs;
mod events;
mod generations;
mod identity;
mod jobs;
mod keys;
mod me;
mod metadata;
mod objects;
mod openai;
mod ops;
mod seed;
mod seed_generate;
mod uploads;
mod web;
mod wellknown;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::http::{HeaderName, HeaderValue, Method};
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, Route};
use std::convert::Infallible;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::auth::limits::rate_headers;
use crate::cors::CorsSettings;
use crate::error::render_errors;
use crate::middleware::{request_span, track_metrics};
use crate::{ApiError, AppState};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (health, sign-in, JWKS).
    Public,
    /// Anyone holding a valid presigned URL; nothing else.
    Presigned,
    /// Any authenticated principal, acting on their own things.
    Authenticated,
    /// An authenticated principal, on a resource named in the path: the owner or an
    /// admin; anyone else gets 404.
    Owned,
    /// Administrators only; other principals get 403.
    Admin,
}

/// One method of one route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteInfo {
    /// HTTP method.
    pub method: &'static str,
    /// axum path template.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
}

/// A router that records what it serves.
pub struct Routes {
    router: Router<AppState>,
    table: Vec<RouteInfo>,
}

impl Routes {
    /// No routes.
    pub fn new() -> Routes {
        Routes {
            router: Router::new(),
            table: Vec::new(),
        }
    }

    /// Serves `route` at `path`; `methods` must list what it answers (the matrix test
    /// checks that every other method gets 405).
    pub fn add(
        mut self,
        path: &'static str,
        access: Access,
        methods: &'static [&'static str],
        route: MethodRouter<AppState>,
    ) -> Routes {
        self.router = self.router.route(path, route);
        self.table.extend(methods.iter().map(|method| RouteInfo {
            method,
            path,
            access,
        }));
        self
    }

    /// Adds every route of `other`.
    pub fn merge(mut self, other: Routes) -> Routes {
        self.router = self.router.merge(other.router);
        self.table.extend(other.table);
        self
    }

    /// Applies a layer (a body limit, a timeout) to the routes so far.
    pub fn layer<L>(mut self, layer: L) -> Routes
    where
        L: tower::Layer<Route> + Clone + Send + Sync + 'static,
        L::Service: tower::Service<Request> + Clone + Send + Sync + 'static,
        <L::Service as tower::Service<Request>>::Response: IntoResponse + 'static,
        <L::Service as tower::Service<Request>>::Error: Into<Infallible> + 'static,
        <L::Service as tower::Service<Request>>::Future: Send + 'static,
    {
        self.router = self.router.layer(layer);
        self
    }
}

fn all_routes(max_json_bytes: usize, max_generation_bytes: usize, timeout: Duration) -> Routes {
    // Generation requests carry images in base64: a limit of their own.
    let generation_routes = Routes::new()
        .merge(generations::routes())
        .merge(bedrock::routes())
        .merge(openai::routes())
        .merge(seed_generate::routes())
        .layer(DefaultBodyLimit::max(max_generation_bytes));
    let json_routes = Routes::new()
        .merge(uploads::routes())
        .merge(jobs::routes())
        .merge(metadata::routes())
        .merge(events::routes())
        .merge(seed::routes())
        .merge(identity::routes())
        .merge(account::routes())
        .merge(keys::routes())
        .merge(me::routes())
        .merge(alarms::routes())
        .layer(DefaultBodyLimit::max(max_json_bytes));
    let timed = Routes::new()
        .merge(json_routes)
        .merge(objects::routes())
        .merge(ops::routes())
        .merge(wellknown::routes())
        .merge(web::routes())
        .merge(docs::routes())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ));
    // Generations wait for engines as long as `generation.max_wait_secs` allows.
    timed.merge(generation_routes)
}

pub use docs::openapi_json_text;

/// Every route and method served, with its access class.
pub fn route_table() -> Vec<RouteInfo> {
    all_routes(0, 0, Duration::ZERO).table
}

fn cors_layer(settings: &CorsSettings) -> Option<CorsLayer> {
    if settings.allowed_origins.is_empty() {
        return None;
    }
    let origins = if settings.allowed_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            settings
                .allowed_origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok()),
        )
    };
    let methods: Vec<Method> = settings
        .allowed_methods
        .iter()
        .filter_map(|m| m.parse().ok())
        .collect();
    let headers: Vec<HeaderName> = settings
        .allowed_headers
        .iter()
        .filter_map(|h| h.parse().ok())
        .collect();
    let exposed: Vec<HeaderName> = settings
        .expose_headers
        .iter()
        .filter_map(|h| h.parse().ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_methods(methods)
            .allow_headers(headers)
            .expose_headers(exposed)
            .allow_credentials(settings.allow_credentials)
            .max_age(Duration::from_secs(settings.max_age_secs)),
    )
}

/// Builds the whole HTTP application.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let cors = cors_layer(&state.settings.cors);
    let tally = state.services.alarms.tally().clone();
    let router = all_routes(
        state.settings.max_json_bytes,
        state.services.generation.settings().max_body_bytes,
        state.settings.request_timeout,
    )
    .router
    .fallback(|| async { ApiError::not_found("route-not-found", "no route matches this path") })
    .with_state(state)
    .layer(axum::middleware::from_fn(rate_headers));
    let router = match cors {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
            .layer(PropagateRequestIdLayer::new(request_id))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_response(DefaultOnResponse::new().level(Level::INFO)),
            )
            .layer(axum::middleware::from_fn_with_state(tally, track_metrics))
            .layer(axum::middleware::from_fn(render_errors))
            .layer(CatchPanicLayer::new()),
    )
}
