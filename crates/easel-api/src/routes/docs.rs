//! `GET /openapi.json`, the OpenAPI 3.1 document of every API route, and `GET /docs`,
//! Swagger UI for it. The UI's files are embedded in the binary (the vendored Swagger UI
//! of `utoipa-swagger-ui`) and served under `/docs/`, so the page loads nothing from
//! anywhere else and runs under a strict Content-Security-Policy: no inline script or
//! style, no other origin.

use std::sync::{Arc, LazyLock};

use axum::extract::{Path, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::OpenApi;
use utoipa_swagger_ui::Config;

use crate::openapi::{Gateway, rules, running};
use crate::routes::{
    Access, Routes, account, alarms, bedrock, events, generations, identity, jobs, keys, me,
    metadata, objects, openai, ops, seed, seed_generate, uploads, wellknown,
};
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .add(
            "/openapi.json",
            Access::Public,
            &["GET", "HEAD"],
            get(openapi_json),
        )
        .add("/docs", Access::Public, &["GET", "HEAD"], get(docs_page))
        .add(
            "/docs/{*path}",
            Access::Public,
            &["GET", "HEAD"],
            get(docs_asset),
        )
}

/// Every API operation. The handlers describe themselves (`#[utoipa::path]`); the
/// [`Gateway`] modifier adds what the router knows (security, gateway errors). A route
/// served but missing here fails the `openapi` integration test.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Easel",
        description = "A self-hosted image platform: presigned uploads, durable processing \
            jobs, image generation and editing (native, Bedrock- and OpenAI-compatible), \
            identity, usage plans. Native errors always have the shape \
            `{\"error\":{\"code\",\"message\",\"requestId\"}}`."
    ),
    paths(
        jobs::create_job, jobs::list_jobs, jobs::get_job, jobs::cancel_job, jobs::redrive_jobs, jobs::list_deliveries, jobs::webhook_secret,
        jobs::list_presets, events::job_events,
        uploads::presign_native, uploads::complete, uploads::store_events, objects::download, objects::upload,
        metadata::object_metadata,
        generations::create_generation, generations::list_history, generations::get_history,
        generations::delete_history, generations::regenerate, generations::engines,
        generations::request_log,
        identity::sign_up, identity::sign_in, identity::refresh, identity::sign_out,
        identity::change_password, identity::forgot_password, identity::reset_password,
        account::challenge, account::verify_email, account::resend_verification,
        account::change_email, account::confirm_email, account::notifications,
        account::set_notifications, me::me, me::audit_log, alarms::alarms,
        keys::create_key, keys::list_keys, keys::revoke_key,
        bedrock::invoke, openai::generations, openai::edits, openai::variations,
        uploads::presign_seed, seed::process, seed::job_status,
        seed_generate::imagegen_api, seed_generate::generate_image, seed_generate::edit_image,
        ops::healthz, ops::readyz, ops::metrics,
        wellknown::jwks, wellknown::openid_configuration, openapi_json,
    ),
    // Error bodies named only by `IntoResponses` types are not collected by themselves.
    components(schemas(crate::error::ErrorBody, openai::OpenAiErrorBody)),
    tags(
        (name = "jobs", description = "Durable image-processing jobs"),
        (name = "uploads", description = "Presigned uploads and downloads, object metadata"),
        (name = "generation", description = "Generation and editing, history, engines"),
        (name = "identity", description = "Accounts, tokens, the caller, the audit log"),
        (name = "keys", description = "API keys and SigV4 access keys"),
        (name = "bedrock", description = "Amazon Bedrock InvokeModel, with Bedrock's errors"),
        (name = "openai", description = "OpenAI Images, with OpenAI's errors"),
        (name = "seed", description = "The seed applications' routes and shapes"),
        (name = "operations", description = "Health and metrics"),
        (name = "discovery", description = "Token keys, OIDC discovery, this document"),
    ),
    modifiers(&Gateway)
)]
struct ApiDoc;

/// The document, built once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    rules::apply(&mut doc);
    serde_json::to_string_pretty(&doc).expect("the document serializes")
});

/// The OpenAPI document as JSON.
pub fn openapi_json_text() -> &'static str {
    &DOCUMENT
}

/// This document: every API route with its parameters, bodies, errors and security, and
/// this server's configured limits.
#[utoipa::path(method(get, head), path = "/openapi.json", tag = "discovery",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)))]
async fn openapi_json(State(state): State<AppState>) -> Response {
    let document = running::with_limits(&DOCUMENT, &running::Limits::of(&state));
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        document,
    )
        .into_response()
}

/// The docs page's policy: its own scripts and styles only, images also from `data:`
/// (Swagger UI's icons are data URIs in its CSS), requests ("Try it out") to this origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'; object-src 'none'";

/// Headers of every docs response.
const COMMON: [(HeaderName, &str); 4] = [
    (header::CACHE_CONTROL, "no-cache"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::CONTENT_SECURITY_POLICY, CSP),
];

/// The page: Swagger UI's own `index.html` uses relative links and would break at
/// `/docs` (no trailing slash), so Easel serves this one with absolute links.
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Easel API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/easel-docs.js"></script>
</body>
</html>
"#;

async fn docs_page() -> Response {
    (
        COMMON,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        PAGE,
    )
        .into_response()
}

/// Starts Swagger UI on this document. Easel's own, instead of the distribution's
/// `swagger-initializer.js`: that one needs the standalone preset, whose top bar logo
/// carries an inline `<style>` the policy refuses. No validator badge either (it would
/// fetch an image from swagger.io).
const START: &str = r##"// Swagger UI for Easel's /openapi.json (served by Easel; see routes/docs.rs).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: "none"
  });
});
"##;

/// Settings for the distribution's own initializer, should anything ask for it: the
/// same document, layout and validator setting as [`START`].
static UI_CONFIG: LazyLock<Arc<Config<'static>>> = LazyLock::new(|| {
    Arc::new(
        Config::new(["/openapi.json"])
            .use_base_layout()
            .validator_url("none"),
    )
});

async fn docs_asset(Path(path): Path<String>) -> Response {
    if path == "easel-docs.js" {
        return (
            COMMON,
            [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
            START,
        )
            .into_response();
    }
    match utoipa_swagger_ui::serve(&path, UI_CONFIG.clone()) {
        Ok(Some(file)) => (
            COMMON,
            [(header::CONTENT_TYPE, file.content_type)],
            file.bytes.into_owned(),
        )
            .into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, "no such file").into_response(),
        Err(error) => crate::ApiError::internal(error).into_response(),
    }
}
