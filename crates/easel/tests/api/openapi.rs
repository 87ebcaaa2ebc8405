//! `GET /openapi.json` and `GET /docs`: the document describes every API route the
//! router serves (and nothing else), every operation documents its errors, every `$ref`
//! resolves, real answers match their documented schemas, and the docs page loads all
//! it needs from Easel itself.

use std::collections::BTreeSet;

use easel_api::openapi::{UNDOCUMENTED, documented_paths, openapi_path};
use easel_api::{Access, route_table};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, png};
use crate::schema_check::{check, resolve};

async fn document(app: &TestApp) -> Value {
    let response = app
        .anonymous()
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.unwrap()
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every `(METHOD, path, operation)` of the document.
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                found.push((method.to_uppercase(), path.clone(), operation));
            }
        }
    }
    found
}

#[tokio::test]
async fn every_api_route_is_documented_and_nothing_else() {
    let app = TestApp::spawn_without_workers().await;
    let doc = document(&app).await;
    let table = route_table();
    let served: BTreeSet<&str> = table.iter().map(|r| r.path).collect();
    for excluded in UNDOCUMENTED {
        assert!(
            served.contains(excluded),
            "{excluded} is excluded but not served"
        );
    }
    let mut expected = BTreeSet::new();
    for route in table.iter().filter(|r| !UNDOCUMENTED.contains(&r.path)) {
        for path in documented_paths(route.path) {
            let documented = doc["paths"][&path].get(route.method.to_lowercase());
            assert!(
                documented.is_some(),
                "{} {} is served but not in /openapi.json as {path}",
                route.method,
                route.path
            );
            expected.insert((route.method.to_owned(), path));
        }
    }
    for (method, path, _) in operations(&doc) {
        assert!(
            expected.contains(&(method.clone(), path.clone())),
            "{method} {path} is documented but not served"
        );
    }
    // The web UI and the docs page are served, not described.
    for excluded in UNDOCUMENTED {
        assert!(
            doc["paths"].get(openapi_path(excluded)).is_none(),
            "{excluded}"
        );
    }
}

/// The error schema an operation's errors must use: the native one, or its dialect's.
fn error_schema(operation: &Value) -> &'static str {
    let tags = operation["tags"].as_array().cloned().unwrap_or_default();
    if tags.contains(&json!("bedrock")) {
        "#/components/schemas/BedrockErrorBody"
    } else if tags.contains(&json!("openai")) {
        "#/components/schemas/OpenAiErrorBody"
    } else {
        "#/components/schemas/Error"
    }
}

#[tokio::test]
async fn every_operation_documents_its_errors_and_security() {
    let app = TestApp::spawn_without_workers().await;
    let doc = document(&app).await;
    let table = route_table();
    for (method, path, operation) in operations(&doc) {
        let context = format!("{method} {path}");
        let route = table
            .iter()
            .find(|r| documented_paths(r.path).contains(&path) && r.method == method)
            .unwrap();
        let responses = operation["responses"].as_object().unwrap();
        let errors: Vec<(&String, &Value)> = responses
            .iter()
            .filter(|(status, _)| status.starts_with('4') || status.starts_with('5'))
            .collect();
        // Routes that answer no client error (only 5xx, when anything fails).
        let public_without_errors = [
            "/healthz",
            "/readyz",
            "/metrics",
            "/openapi.json",
            "/v1/auth/challenge",
        ];
        if !public_without_errors.contains(&path.as_str()) {
            assert!(
                errors.iter().any(|(s, _)| s.starts_with('4')),
                "{context} documents no 4xx"
            );
        }
        for (status, response) in errors {
            let schema = &response["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(schema, error_schema(operation), "{context} {status}");
        }
        let has = |status: &str| responses.contains_key(status);
        let security = operation.get("security");
        match route.access {
            Access::Public => assert!(security.is_none(), "{context}"),
            Access::Presigned => {
                assert_eq!(
                    security,
                    Some(&json!([{ "presignedUrl": [] }])),
                    "{context}"
                );
                assert!(has("403"), "{context}");
            }
            Access::Authenticated | Access::Owned | Access::Admin => {
                let schemes = security.unwrap().as_array().unwrap();
                assert!(schemes.contains(&json!({ "bearer": [] })), "{context}");
                assert!(schemes.contains(&json!({ "apiKey": [] })), "{context}");
                if error_schema(operation) == "#/components/schemas/Error" {
                    assert!(has("401") && has("429"), "{context}");
                }
                if route.access == Access::Owned {
                    assert!(has("404"), "{context}");
                }
                if route.access == Access::Admin {
                    assert!(has("403"), "{context}");
                }
            }
        }
        let json_body = operation["requestBody"]["content"].get("application/json");
        if json_body.is_some() && operation["requestBody"]["required"] == true {
            for status in ["400", "413", "415"] {
                if error_schema(operation) == "#/components/schemas/Error" {
                    assert!(
                        has(status),
                        "{context} reads JSON but does not document {status}"
                    );
                }
            }
        }
    }
    for path in documented_paths("/model/{model_id}/invoke") {
        let sigv4 = &doc["paths"][&path]["post"]["security"];
        assert!(sigv4.as_array().unwrap().contains(&json!({ "sigv4": [] })));
    }
}

/// Every `$ref` in `value`, with where it is.
fn refs<'a>(value: &'a Value, at: String, found: &mut Vec<(String, &'a str)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if key == "$ref" {
                    found.push((at.clone(), child.as_str().unwrap()));
                } else {
                    refs(child, format!("{at}/{key}"), found);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                refs(child, format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_well_formed() {
    let app = TestApp::spawn_without_workers().await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "Easel");
    for name in ["bearer", "apiKey", "sigv4", "presignedUrl"] {
        assert!(
            doc["components"]["securitySchemes"].get(name).is_some(),
            "{name}"
        );
    }
    let mut found = Vec::new();
    refs(&doc, String::new(), &mut found);
    assert!(found.len() > 50, "{}", found.len());
    for (at, reference) in &found {
        assert!(
            reference.starts_with("#/"),
            "{at}: {reference} is not local"
        );
        assert!(
            resolve(&doc, reference).is_some(),
            "{at}: {reference} does not resolve"
        );
    }
    let mut ids = BTreeSet::new();
    for (method, path, operation) in operations(&doc) {
        let id = operation["operationId"].as_str().unwrap();
        assert!(
            ids.insert(id.to_owned()),
            "{method} {path}: operationId {id} is repeated"
        );
        // Every `{name}` of the path is a declared path parameter, and nothing more.
        let declared: BTreeSet<&str> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        let templated: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        assert_eq!(declared, templated, "{method} {path}");
        assert!(
            operation["responses"]
                .as_object()
                .is_some_and(|r| !r.is_empty())
        );
    }
}

/// Looks up the documented schema of `status` for `method path` and checks `body`
/// against it. An undocumented status fails.
fn assert_documented(doc: &Value, method: &str, path: &str, status: StatusCode, body: &Value) {
    let operation = &doc["paths"][path][method.to_lowercase()];
    let response = &operation["responses"][status.as_str()];
    assert!(
        response.is_object(),
        "{method} {path} answered {status}, which is not documented"
    );
    let schema = &response["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "{method} {path} {status} documents no JSON body"
    );
    let errors = check(doc, schema, body);
    assert!(
        errors.is_empty(),
        "{method} {path} {status}: {errors:#?}\n{body:#}"
    );
}

/// Sends a request and checks the answer against the document; returns the body.
async fn call(
    app: &TestApp,
    doc: &Value,
    client: &reqwest::Client,
    (method, template, url): (&str, &str, &str),
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client.request(Method::from_bytes(method.as_bytes()).unwrap(), app.url(url));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let value: Value = response.json().await.unwrap();
    assert_documented(doc, method, template, status, &value);
    (status, value)
}

#[tokio::test]
async fn real_answers_match_their_documented_schemas() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let client = app.client.clone();

    // An upload through its presigned URL, then a job that processes it.
    let (_, presigned) = call(
        &app,
        &doc,
        &client,
        ("POST", "/v1/uploads", "/v1/uploads"),
        Some(json!({ "filename": "a.png", "contentType": "image/png" })),
    )
    .await;
    let put = app
        .put(presigned["url"].as_str().unwrap(), "image/png", png(64, 48))
        .await;
    assert_eq!(put.status(), StatusCode::OK);
    assert_documented(
        &doc,
        "PUT",
        "/o/{bucket}/{key}",
        StatusCode::OK,
        &put.json().await.unwrap(),
    );
    let key = presigned["key"].as_str().unwrap();
    let (status, job) = call(
        &app,
        &doc,
        &client,
        ("POST", "/v1/jobs", "/v1/jobs"),
        Some(json!({ "sources": [key], "preset": "thumbnail", "metadata": { "a": 1 } })),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = job["jobId"].as_str().unwrap();
    app.wait_for_job(id).await;
    let (_, done) = call(
        &app,
        &doc,
        &client,
        ("GET", "/v1/jobs/{id}", &format!("/v1/jobs/{id}")),
        None,
    )
    .await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert!(
        done["results"][0]["output"]["downloadUrl"].is_string(),
        "the output is checked too"
    );
    call(
        &app,
        &doc,
        &client,
        ("GET", "/v1/jobs", "/v1/jobs?limit=5"),
        None,
    )
    .await;
    call(
        &app,
        &doc,
        &client,
        ("GET", "/jobs/{id}", &format!("/jobs/{id}")),
        None,
    )
    .await;
    let object = format!("/v1/objects/uploads/{key}");
    let (_, meta) = call(
        &app,
        &doc,
        &client,
        ("GET", "/v1/objects/{bucket}/{key}", &object),
        None,
    )
    .await;
    assert_eq!(meta["derived"].as_array().unwrap().len(), 1, "{meta}");
    call(
        &app,
        &doc,
        &client,
        ("GET", "/v1/presets", "/v1/presets"),
        None,
    )
    .await;

    // Errors, in the one shape.
    let (status, _) = call(
        &app,
        &doc,
        &client,
        ("GET", "/v1/jobs/{id}", "/v1/jobs/no-such-job"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        &app,
        &doc,
        &client,
        ("POST", "/v1/jobs", "/v1/jobs"),
        Some(json!({ "sources": [key], "preset": "nope" })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(
        &app,
        &doc,
        &app.anonymous(),
        ("GET", "/v1/me", "/v1/me"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Identity.
    let (_, me) = call(&app, &doc, &client, ("GET", "/v1/me", "/v1/me"), None).await;
    assert_eq!(me["userId"], app.user.user_id.as_str());
    call(
        &app,
        &doc,
        &client,
        ("POST", "/v1/keys", "/v1/keys"),
        Some(json!({ "name": "k" })),
    )
    .await;
    call(
        &app,
        &doc,
        &client,
        ("POST", "/v1/keys", "/v1/keys"),
        Some(json!({ "name": "sdk", "type": "access-key" })),
    )
    .await;
    call(&app, &doc, &client, ("GET", "/v1/keys", "/v1/keys"), None).await;
    call(
        &app,
        &doc,
        &app.anonymous(),
        ("POST", "/v1/auth/sign-in", "/v1/auth/sign-in"),
        Some(json!({ "username": app.user.username, "password": crate::helpers::PASSWORD })),
    )
    .await;
    let admin = app.admin().await.client;
    call(
        &app,
        &doc,
        &admin,
        ("GET", "/v1/admin/audit", "/v1/admin/audit?limit=5"),
        None,
    )
    .await;

    // A generation with the classic engine, and what it leaves behind.
    let (status, entry) = call(
        &app,
        &doc,
        &client,
        ("POST", "/v1/generations", "/v1/generations?wait=60"),
        Some(inpainting()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{entry}");
    assert_eq!(entry["images"].as_array().unwrap().len(), 1, "{entry}");
    call(
        &app,
        &doc,
        &client,
        ("GET", "/v1/history", "/v1/history"),
        None,
    )
    .await;
    call(
        &app,
        &doc,
        &client,
        ("GET", "/v1/requests", "/v1/requests"),
        None,
    )
    .await;
    call(
        &app,
        &doc,
        &client,
        ("GET", "/v1/engines", "/v1/engines"),
        None,
    )
    .await;

    // Public documents.
    for path in [
        "/healthz",
        "/readyz",
        "/.well-known/jwks.json",
        "/.well-known/openid-configuration",
    ] {
        call(&app, &doc, &app.anonymous(), ("GET", path, path), None).await;
    }
}

/// A small inpainting request the classic engine accepts.
fn inpainting() -> Value {
    use base64::Engine as _;
    let mask = image::RgbaImage::from_fn(16, 16, |x, _| {
        let v = if x < 8 { 0 } else { 255 };
        image::Rgba([v, v, v, 255])
    });
    let mut mask_png = std::io::Cursor::new(Vec::new());
    mask.write_to(&mut mask_png, image::ImageFormat::Png)
        .unwrap();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    json!({
        "taskType": "INPAINTING",
        "inPaintingParams": { "image": b64(&png(16, 16)), "maskImage": b64(&mask_png.into_inner()) },
    })
}

/// The values of `attribute="…"` in `html`.
fn attribute_values<'a>(html: &'a str, attribute: &str) -> Vec<&'a str> {
    let needle = format!("{attribute}=\"");
    html.match_indices(&needle)
        .filter_map(|(at, _)| {
            let rest = &html[at + needle.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

#[tokio::test]
async fn the_docs_page_loads_everything_from_easel() {
    let app = TestApp::spawn_without_workers().await;
    let response = app.anonymous().get(app.url("/docs")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(csp.contains("style-src 'self';"), "{csp}");
    assert!(!csp.contains("unsafe"), "{csp}");
    assert!(!csp.contains("http"), "no other origin: {csp}");
    let html = response.text().await.unwrap();
    assert!(!html.contains("<script>"), "no inline script");
    assert!(
        !html.contains("<style") && !html.contains("style=\""),
        "no inline style"
    );

    let assets: Vec<&str> = attribute_values(&html, "src")
        .into_iter()
        .chain(attribute_values(&html, "href"))
        .collect();
    assert!(assets.len() >= 3, "{assets:?}");
    for asset in &assets {
        assert!(
            asset.starts_with('/') && !asset.starts_with("//"),
            "{asset} is not on Easel's origin"
        );
        let response = app.anonymous().get(app.url(asset)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        let body = response.bytes().await.unwrap();
        assert!(body.len() > 100, "{asset} is nearly empty");
    }
    // The start-up script: this document, no validator badge, nothing from elsewhere,
    // and not the standalone preset (its logo has an inline `<style>`).
    assert!(assets.contains(&"/docs/easel-docs.js"), "{assets:?}");
    assert!(!html.contains("standalone-preset"), "{html}");
    let start = app
        .anonymous()
        .get(app.url("/docs/easel-docs.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(start.contains("url: \"/openapi.json\""), "{start}");
    assert!(
        start.contains("validatorUrl: \"none\""),
        "no validator badge: {start}"
    );
    assert!(!start.contains("http"), "nothing from elsewhere: {start}");
    let missing = app
        .anonymous()
        .get(app.url("/docs/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

/// The fields of the SSE events in `text`, as an SSE client reads them.
fn sse_events(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter(|block| block.lines().any(|l| l.starts_with("data:")))
        .map(|block| {
            let field = |name: &str| {
                block
                    .lines()
                    .filter_map(|l| l.strip_prefix(name))
                    .map(|v| v.strip_prefix(' ').unwrap_or(v))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            json!({ "event": field("event:"), "data": field("data:") })
        })
        .collect()
}

#[tokio::test]
async fn the_job_event_stream_matches_its_documented_events() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let (status, job) = call(
        &app,
        &doc,
        &app.client,
        ("POST", "/v1/jobs", "/v1/jobs"),
        Some(json!({ "kind": "noop" })),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = job["jobId"].as_str().unwrap();
    let response = app
        .client
        .get(app.url(&format!("/v1/jobs/{id}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = sse_events(&response.text().await.unwrap());
    assert!(!events.is_empty());
    let content = &doc["paths"]["/v1/jobs/{id}/events"]["get"]["responses"]["200"]["content"];
    let stream = &content["text/event-stream"]["schema"];
    let variants = resolve(&doc, stream["$ref"].as_str().unwrap()).unwrap()["oneOf"]
        .as_array()
        .unwrap();
    for event in &events {
        let errors = check(&doc, stream, event);
        assert!(errors.is_empty(), "{event}: {errors:#?}");
        // The event's `data` is JSON of the schema its variant names.
        let variant = variants
            .iter()
            .find(|v| v["properties"]["event"]["enum"][0] == event["event"])
            .unwrap();
        let data = &variant["properties"]["data"];
        assert_eq!(data["contentMediaType"], "application/json");
        let value: Value = serde_json::from_str(event["data"].as_str().unwrap()).unwrap();
        let errors = check(&doc, &data["contentSchema"], &value);
        assert!(errors.is_empty(), "{value:#}: {errors:#?}");
    }
    assert_eq!(events.last().unwrap()["event"], "status");
}

/// The pattern the document gives a parameter of an operation.
fn parameter_pattern<'a>(doc: &'a Value, method: &str, path: &str, name: &str) -> &'a str {
    doc["paths"][path][method]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["schema"]["pattern"].as_str())
        .unwrap_or_else(|| panic!("{method} {path} {name} has no pattern"))
}

#[tokio::test]
async fn documented_parameter_rules_are_the_servers() {
    let app = TestApp::spawn_without_workers().await;
    let doc = document(&app).await;
    // One Idempotency-Key rule for every route that takes one.
    for (method, path) in [
        ("post", "/v1/jobs"),
        ("post", "/process"),
        ("post", "/v1/generations"),
    ] {
        let pattern = parameter_pattern(&doc, method, path, "Idempotency-Key");
        assert_eq!(pattern, "^[!-~]{1,255}$", "{method} {path}");
    }
    let noop = json!({ "kind": "noop" });
    for (key, status) in [
        ("k".repeat(255), StatusCode::ACCEPTED),
        ("k".repeat(256), StatusCode::BAD_REQUEST),
        ("a b".to_owned(), StatusCode::BAD_REQUEST),
    ] {
        let response = app
            .client
            .post(app.url("/v1/jobs"))
            .header("idempotency-key", &key)
            .json(&noop)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{key}");
    }
    // Cursors are the ids the API writes: hyphenated UUIDs, nothing else.
    for path in ["/v1/jobs", "/v1/history", "/v1/requests"] {
        let pattern = parameter_pattern(&doc, "get", path, "cursor");
        assert!(pattern.contains("{8}-"), "{path}: {pattern}");
        for (cursor, status) in [
            ("", StatusCode::BAD_REQUEST),
            ("0190f1f6a1b27c3d8e9f0a1b2c3d4e5f", StatusCode::BAD_REQUEST),
            ("0190f1f6-a1b2-7c3d-8e9f-0a1b2c3d4e5f", StatusCode::OK),
        ] {
            let response = app
                .client
                .get(app.url(&format!("{path}?cursor={cursor}")))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), status, "{path}?cursor={cursor}");
        }
    }
}

#[tokio::test]
async fn key_names_follow_the_documented_rule() {
    let app = TestApp::spawn_without_workers().await;
    let doc = document(&app).await;
    let name = &doc["components"]["schemas"]["CreateKey"]["properties"]["name"];
    assert_eq!(
        (&name["minLength"], &name["maxLength"]),
        (&json!(1), &json!(100))
    );
    // Characters, not bytes; control characters anywhere, or only whitespace, refused.
    for (name, status) in [
        ("é".repeat(100), StatusCode::CREATED),
        ("é".repeat(101), StatusCode::BAD_REQUEST),
        ("\tci".to_owned(), StatusCode::BAD_REQUEST),
        ("   ".to_owned(), StatusCode::BAD_REQUEST),
        (" ci ".to_owned(), StatusCode::CREATED),
    ] {
        let response = app
            .client
            .post(app.url("/v1/keys"))
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{name:?}");
    }
}
