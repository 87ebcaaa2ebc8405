//! The authorization matrix, generated from the router's own table: every route and
//! method × anonymous, user A, user B and admin, with user A's ids in the path. A route
//! added without an access class cannot exist (registration needs one), and a route
//! whose path has an id this test does not know fails here until it is taught one.

use easel_api::{Access, route_table};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, png};

/// Fills a path template with user A's resources.
fn fill(path: &str, job: &str, key: &str, api_key: &str) -> String {
    let filled = path
        .replace("{bucket}/{*key}", &format!("uploads/{key}"))
        .replace("/jobs/{id}", &format!("/jobs/{job}"))
        .replace("/keys/{id}", &format!("/keys/{api_key}"));
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
        let path = fill(route.path, &job, &key, &api_key);
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
        let path = fill(route.path, &job, &key, &api_key);
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
