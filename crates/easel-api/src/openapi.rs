//! The OpenAPI document's rules that come from the router rather than from each
//! handler: which routes are described, how axum's path templates are written in
//! OpenAPI, the security schemes, and the errors every route of an access class can
//! answer. Handlers describe their own bodies and errors with `#[utoipa::path]`; the
//! [`Gateway`] modifier then walks [`route_table`] so that what the gateway does to every
//! request (authentication, rate limits, JSON body checks) is documented exactly where
//! it happens.

pub mod bedrock_body;
pub mod openai;
pub mod patterns;
pub mod pipeline;
pub mod rules;
pub mod running;

use std::collections::BTreeSet;

use utoipa::Modify;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Required, Response, SecurityRequirement};

use easel_services::identity::PasswordPolicy;
use easel_services::identity::passwords::{EMAIL_PATTERN, MAX_EMAIL_CHARS, MAX_PASSWORD_CHARS};

use crate::routes::{Access, route_table};

/// Served routes the document leaves out, with why: they answer HTML, scripts and styles
/// for people (the web UI, and the docs page itself), not an API.
pub const UNDOCUMENTED: &[&str] = &["/", "/ui/{*path}", "/docs", "/docs/{*path}"];

/// Tags whose operations answer in another API's error shape (Bedrock's, OpenAI's) and
/// document their errors themselves.
const OWN_ERROR_SHAPES: &[&str] = &["bedrock", "openai"];

/// The security scheme of Easel's access tokens (and of API keys sent as bearer tokens).
pub const BEARER: &str = "bearer";
/// The security scheme of API keys in `x-api-key`.
pub const API_KEY: &str = "apiKey";
/// The security scheme of AWS Signature Version 4 (the Bedrock-compatible route).
pub const SIGV4: &str = "sigv4";
/// The security scheme of presigned URLs.
pub const PRESIGNED: &str = "presignedUrl";

/// The OpenAPI form of an axum path template: `{*key}` (a wildcard that may hold `/`)
/// is an ordinary `{key}` parameter there.
pub fn openapi_path(path: &str) -> String {
    path.replace("{*", "{")
}

/// The paths the document describes a served route under: one, except the Bedrock
/// route, described once per model (the model decides the body's limits).
pub fn documented_paths(path: &str) -> Vec<String> {
    if path == rules::INVOKE_PATH {
        [easel_engines::TITAN_IMAGE_V2, easel_engines::NOVA_CANVAS]
            .iter()
            .map(|model| format!("/model/{model}/invoke"))
            .collect()
    } else {
        vec![openapi_path(path)]
    }
}

/// An e-mail address as `normalize_email` takes it (the one rule of every route that
/// reads one): its pattern and its length in characters.
pub fn email_schema() -> utoipa::openapi::schema::Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(EMAIL_PATTERN))
        .max_length(Some(MAX_EMAIL_CHARS))
        .examples(["me@example.com"])
        .build()
}

/// A new password under `policy`: its length in characters and its character classes
/// (`PasswordPolicy::check`).
pub fn password_schema_of(policy: &PasswordPolicy) -> utoipa::openapi::schema::Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(policy.min_length))
        .max_length(Some(MAX_PASSWORD_CHARS))
        .pattern(policy.pattern())
        .examples(["Corr3ct-horse"])
        .description(Some(
            "Checked against the password policy: the length, and (as Cognito's) ASCII \
             upper- and lowercase letters, digits, symbols from \
             ^ $ * . [ ] { } ( ) ? \" ! @ # % & / \\ , > < ' : ; | _ ~ ` = + - and space. \
             The served document states this server's policy.",
        ))
        .build()
}

/// [`password_schema_of`] the default policy (the served document states the running
/// server's).
pub fn password_schema() -> utoipa::openapi::schema::Object {
    password_schema_of(&PasswordPolicy::default())
}

/// Adds the security schemes, each operation's security requirement from its access
/// class, and the errors the gateway answers before or around every handler.
pub struct Gateway;

impl Modify for Gateway {
    fn modify(&self, doc: &mut OpenApi) {
        add_security_schemes(doc);
        let table = route_table();
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, operation) in operations_mut(item) {
                let route = table
                    .iter()
                    .find(|r| openapi_path(r.path) == *path && r.method == method);
                // An operation with no route is caught by the tests; nothing to add.
                if let Some(route) = route {
                    describe_access(operation, route.access);
                }
            }
        }
        unique_head_ids(doc);
        describe_idempotency_keys(doc);
    }
}

/// The `Idempotency-Key` header's rule ([`easel_core::IdempotencyKey::parse`], the one
/// parser every route uses): 1 to 255 visible ASCII characters.
fn describe_idempotency_keys(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        for (_, operation) in operations_mut(item) {
            for parameter in operation.parameters.iter_mut().flatten() {
                let RefOr::T(parameter) = parameter else {
                    continue;
                };
                if parameter.name.eq_ignore_ascii_case("idempotency-key") {
                    let schema = ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some("^[!-~]{1,255}$"))
                        .min_length(Some(1))
                        .max_length(Some(255));
                    parameter.schema = Some(RefOr::T(Schema::Object(schema.build())));
                }
            }
        }
    }
}

fn add_security_schemes(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    let mut bearer = Http::new(HttpAuthScheme::Bearer);
    bearer.bearer_format = Some("JWT".to_owned());
    bearer.description = Some(
        "An access token from `POST /v1/auth/sign-in` (an EdDSA JWT with Cognito's claims), \
         an access token of a trusted external issuer (`[[auth.external]]`), or an API key \
         (`ek_…`)."
            .to_owned(),
    );
    components.add_security_scheme(BEARER, SecurityScheme::Http(bearer));
    components.add_security_scheme(
        API_KEY,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "x-api-key",
            "An API key from `POST /v1/keys`.",
        ))),
    );
    // OpenAPI has no SigV4 scheme; like API Gateway's exports, describe the header that
    // carries the signature.
    components.add_security_scheme(
        SIGV4,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "Authorization",
            "AWS Signature Version 4 (`AWS4-HMAC-SHA256 Credential=…`, service `bedrock`) \
             made with an access key from `POST /v1/keys {\"type\": \"access-key\"}`.",
        ))),
    );
    components.add_security_scheme(
        PRESIGNED,
        SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
            "X-Easel-Signature",
            "The signature of a presigned URL; use the URL exactly as Easel returned it.",
        ))),
    );
}

/// Every operation of a path item with its lower-case method name.
fn operations_mut(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("GET", item.get.as_mut()),
        ("PUT", item.put.as_mut()),
        ("POST", item.post.as_mut()),
        ("DELETE", item.delete.as_mut()),
        ("OPTIONS", item.options.as_mut()),
        ("HEAD", item.head.as_mut()),
        ("PATCH", item.patch.as_mut()),
        ("TRACE", item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.map(|op| (method, op)))
    .collect()
}

fn requirement(name: &str) -> SecurityRequirement {
    SecurityRequirement::new(name, Vec::<String>::new())
}

fn describe_access(operation: &mut Operation, access: Access) {
    let own_shape = operation
        .tags
        .iter()
        .flatten()
        .any(|tag| OWN_ERROR_SHAPES.contains(&tag.as_str()));
    match access {
        Access::Public => {}
        Access::Presigned => {
            operation.security = Some(vec![requirement(PRESIGNED)]);
        }
        Access::Authenticated | Access::Owned | Access::Admin => {
            let mut schemes = vec![requirement(BEARER), requirement(API_KEY)];
            if operation.tags.iter().flatten().any(|t| t == "bedrock") {
                schemes.insert(0, requirement(SIGV4));
            }
            operation.security = Some(schemes);
        }
    }
    if own_shape {
        return;
    }
    if matches!(
        access,
        Access::Authenticated | Access::Owned | Access::Admin
    ) {
        add_error(
            operation,
            401,
            "`unauthenticated` (no credential) or `invalid-token` (expired, revoked, malformed), with `WWW-Authenticate`",
        );
        add_error(
            operation,
            429,
            "`rate-limited`: the plan's token bucket is empty; `Retry-After` and `x-ratelimit-*` say when to retry",
        );
    }
    // Owned routes' handlers name their own 404 code; this covers any that do not.
    if access == Access::Owned && !operation.responses.responses.contains_key("404") {
        add_error(
            operation,
            404,
            "the resource does not exist or belongs to someone else (the two are not told apart)",
        );
    }
    if access == Access::Admin {
        add_error(operation, 403, "`forbidden`: administrators only");
    }
    if operation.request_body.is_some() {
        add_error(
            operation,
            408,
            "`body-timeout`: the body arrived slower than `server.body_min_bytes_per_sec` allows; the connection is closed",
        );
    }
    if reads_json_body(operation) {
        add_error(
            operation,
            400,
            "`malformed-json` (not JSON) or `invalid-request` (a missing, unknown or mistyped field)",
        );
        add_error(
            operation,
            413,
            "`payload-too-large`: over the route's body limit",
        );
        add_error(
            operation,
            415,
            "`unsupported-media-type`: send `Content-Type: application/json`",
        );
    }
}

/// A required JSON body is read by the `JsonBody` extractor, which answers malformed
/// JSON, wrong fields, oversize bodies and other content types itself. (Optional bodies
/// are read by hand and document their own errors.)
fn reads_json_body(operation: &Operation) -> bool {
    match &operation.request_body {
        Some(RefOr::T(RequestBody {
            content, required, ..
        })) => *required == Some(Required::True) && content.contains_key("application/json"),
        _ => false,
    }
}

/// Adds an error response in the native shape; when the handler documents the status
/// already, the gateway's cause is added to its description.
fn add_error(operation: &mut Operation, status: u16, cause: &str) {
    let responses = &mut operation.responses.responses;
    match responses.get_mut(&status.to_string()) {
        Some(RefOr::T(response)) => {
            if !response.description.contains(cause) {
                response.description = format!("{}; or {cause}", response.description);
            }
        }
        Some(RefOr::Ref(_)) => {}
        None => {
            let mut response = Response::new(capitalized(cause));
            response.content.insert(
                "application/json".to_owned(),
                RefOr::T(Content::new(Some(Ref::from_schema_name("Error")))),
            );
            responses.insert(status.to_string(), RefOr::T(response));
        }
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `method(get, head)` gives both operations the handler's id; OpenAPI wants ids unique.
fn unique_head_ids(doc: &mut OpenApi) {
    let mut seen = BTreeSet::new();
    for item in doc.paths.paths.values_mut() {
        for (method, operation) in operations_mut(item) {
            let Some(id) = operation.operation_id.clone() else {
                continue;
            };
            if !seen.insert(id.clone()) {
                operation.operation_id = Some(format!("{id}_{}", method.to_lowercase()));
            }
        }
    }
}
