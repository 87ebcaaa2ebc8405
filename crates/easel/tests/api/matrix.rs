//! The authorization matrix, generated from the router's own table: every route and
//! method × anonymous, user A, user B and admin, with user A's ids in the path. A route
//! added without an access class cannot exist (registration needs one), and a route
//! whose path has an id this test does not know fails here until it is taught one.

use easel_api::{Access, route_table};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, png};

/// A small inpainting request the classic engine accepts.
fn inpainting() -> serde_json::Value {
    use base64::Engine as _;
    let mask = image::RgbaImage::from_fn(8, 8, |x, _| {
        let v = if x < 4 { 0 } else { 255 };
        image::Rgba([v, v, v, 255])
    });
    let mut mask_png = std::io::Cursor::new(Vec::new());
    mask.write_to(&mut mask_png, image::ImageFormat::Png)
        .unwrap();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    json!({
        "taskType": "INPAINTING",
        "inPaintingParams": { "image": b64(&png(8, 8)), "maskImage": b64(&mask_png.into_inner()) },
    })
}

/// User A's resources, named in paths.
struct Ids {
    job: String,
    key: String,
    api_key: String,
    /// A history entry (may be deleted by the matrix).
    entry: String,
    /// Another one, for regeneration.
    regenerated: String,
}

/// Fills a path template with user A's resources.
fn fill(path: &str, ids: &Ids) -> String {
    let filled = path
        .replace("{bucket}/{*key}", &format!("uploads/{}", ids.key))
        .replace("/jobs/{id}", &format!("/jobs/{}", ids.job))
        .replace("/keys/{id}", &format!("/keys/{}", ids.api_key))
        .replace("/history/{id}/", &format!("/history/{}/", ids.regenerated))
        .replace("/history/{id}", &format!("/history/{}", ids.entry))
        .replace("{model_id}", "amazon.titan-image-generator-v2:0")
        .replace("/ui/{*path}", "/ui/app.css")
        .replace("/docs/{*path}", "/docs/swagger-ui.css");
    assert!(!filled.contains('{'), "teach the matrix an id for {path}");
    filled
}

#[tokio::test]
async fn every_route_checks_who_is_calling() {
    let app = TestApp::spawn_without_workers().await;
    let key = app.upload("a.png", "image/png", png(8, 8)).await;
    let job = app
        .create_job(&json!({ "sources": [key], "preset": "thumbnail" }))
        .await["jobId"]
        .as_str()
        .unwrap()
        .to_owned();
    let api_key: serde_json::Value = app
        .client
        .post(app.url("/v1/keys"))
        .json(&json!({ "name": "matrix" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api_key = api_key["id"].as_str().unwrap().to_owned();
    let mut entries = Vec::new();
    for _ in 0..2 {
        let entry: serde_json::Value = app
            .post_json("/v1/generations", &inpainting())
            .await
            .json()
            .await
            .unwrap();
        entries.push(entry["id"].as_str().unwrap().to_owned());
    }
    let ids = Ids {
        job,
        key,
        api_key,
        entry: entries.remove(0),
        regenerated: entries.remove(0),
    };
    let user_b = app.new_user("user-b@example.test").await;
    let admin = app.admin().await;
    let callers = [
        ("anonymous", app.anonymous()),
        ("user B", user_b.client.clone()),
        ("admin", admin.client.clone()),
        ("user A", app.client.clone()),
    ];
    let table = route_table();
    assert!(table.len() >= 20, "{table:?}");
    for route in &table {
        let method = Method::from_bytes(route.method.as_bytes()).unwrap();
        // A destructive method is tried by everyone but the owner first, so the owner's
        // call still finds the resource; its own outcome is checked for "not denied".
        let path = fill(route.path, &ids);
        for (who, client) in &callers {
            let response = client
                .request(method.clone(), app.url(&path))
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let status = response.status();
            let context = format!("{} {} as {who}: {status}", route.method, route.path);
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{context}");
            assert!(!status.is_server_error(), "{context}");
            match (route.access, *who) {
                (Access::Presigned, _) => assert_eq!(status, StatusCode::FORBIDDEN, "{context}"),
                (Access::Public, _) => {
                    assert!(
                        status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                        "{context}"
                    )
                }
                // Bedrock's dialect: a missing credential is a 403 (MissingAuthenticationToken).
                (_, "anonymous") if route.path.starts_with("/model/") => {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{context}")
                }
                (_, "anonymous") => assert_eq!(status, StatusCode::UNAUTHORIZED, "{context}"),
                (Access::Owned, "user B") => assert_eq!(status, StatusCode::NOT_FOUND, "{context}"),
                (Access::Admin, "user B" | "user A") => {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{context}")
                }
                (_, _) => assert!(
                    ![
                        StatusCode::UNAUTHORIZED,
                        StatusCode::FORBIDDEN,
                        StatusCode::NOT_FOUND
                    ]
                    .contains(&status)
                        || route.method == "DELETE" && *who == "user A",
                    "{context}"
                ),
            }
        }
    }
    // Methods a route does not declare are not served.
    for route in &table {
        let path = fill(route.path, &ids);
        let declared: Vec<&str> = table
            .iter()
            .filter(|r| r.path == route.path)
            .map(|r| r.method)
            .collect();
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            if declared.contains(&method) || (method == "GET" && declared.contains(&"HEAD")) {
                continue;
            }
            let response = app
                .client
                .request(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    app.url(&path),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {} is served but not declared",
                route.path
            );
        }
    }
}
