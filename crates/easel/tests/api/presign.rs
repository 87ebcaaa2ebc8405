//! Presigned URL enforcement: expiry, tampering, method, content type, size, content.

use easel_core::{Bucket, ObjectKey, ObjectRef};
use easel_store::{SignedRequest, UploadRules};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, jpeg, png};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn expired_and_tampered_urls_are_refused_and_store_nothing() {
    let app = TestApp::spawn().await;
    let object = ObjectRef {
        bucket: Bucket::Uploads,
        key: ObjectKey::parse("uploads/2024/01/01/x-a.jpg").unwrap(),
    };
    let expired = app.presigner().await.sign(&SignedRequest {
        method: "PUT".into(),
        object: object.clone(),
        expires: now() - 1,
        upload: Some(UploadRules {
            content_type: "image/jpeg".into(),
            max_bytes: 1 << 20,
            owner: "local".into(),
        }),
    });
    let response = app.put(&expired.url, "image/jpeg", jpeg(10, 10)).await;
    assert_eq!(
        error_code(response, StatusCode::FORBIDDEN).await,
        "url-expired"
    );

    let presigned = app.presign("a.jpg", "image/jpeg").await;
    let url = presigned["url"].as_str().unwrap();
    let tampered = [
        url.replace(
            "X-Easel-Max-Bytes=52428800",
            "X-Easel-Max-Bytes=99999999999",
        ),
        url.replace(
            &format!("X-Easel-Owner={}", app.user.user_id),
            "X-Easel-Owner=someone-else",
        ),
        url.replace("image%2Fjpeg", "image%2Fpng"),
        url.replace("-a.jpg?", "-b.jpg?"),
        url.replace("X-Easel-Signature=", "X-Easel-Signature=A"),
    ];
    for bad in tampered {
        assert_ne!(bad, url);
        let response = app.put(&bad, "image/jpeg", jpeg(10, 10)).await;
        let code = error_code(response, StatusCode::FORBIDDEN).await;
        assert!(
            code == "signature-mismatch" || code == "url-malformed",
            "{bad}: {code}"
        );
    }
    // Nothing was stored: the real URL's object is still absent.
    let key = presigned["key"].as_str().unwrap();
    let download = app.presigner().await.sign(&SignedRequest {
        method: "GET".into(),
        object: ObjectRef {
            bucket: Bucket::Uploads,
            key: ObjectKey::parse(key).unwrap(),
        },
        expires: now() + 60,
        upload: None,
    });
    let response = app.client.get(&download.url).send().await.unwrap();
    assert_eq!(
        error_code(response, StatusCode::NOT_FOUND).await,
        "object-not-found"
    );
}

#[tokio::test]
async fn wrong_method_and_missing_signature() {
    let app = TestApp::spawn().await;
    let presigned = app.presign("a.jpg", "image/jpeg").await;
    let url = presigned["url"].as_str().unwrap();
    let response = app.client.get(url).send().await.unwrap();
    assert_eq!(
        error_code(response, StatusCode::FORBIDDEN).await,
        "url-method-mismatch"
    );
    let bare = url.split('?').next().unwrap();
    let response = app.put(bare, "image/jpeg", jpeg(10, 10)).await;
    assert_eq!(
        error_code(response, StatusCode::FORBIDDEN).await,
        "url-malformed"
    );
    // A download URL cannot be used to upload.
    app.put(url, "image/jpeg", jpeg(10, 10)).await;
    let download = app.presigner().await.sign(&SignedRequest {
        method: "GET".into(),
        object: ObjectRef {
            bucket: Bucket::Uploads,
            key: ObjectKey::parse(presigned["key"].as_str().unwrap()).unwrap(),
        },
        expires: now() + 60,
        upload: None,
    });
    let response = app.put(&download.url, "image/jpeg", jpeg(10, 10)).await;
    assert_eq!(
        error_code(response, StatusCode::FORBIDDEN).await,
        "url-method-mismatch"
    );
    let head = app.client.head(&download.url).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-type"], "image/jpeg");
}

#[tokio::test]
async fn content_type_size_and_content_are_enforced() {
    let app = TestApp::spawn_with(true, |config| config.storage.max_upload_bytes = 2_000).await;
    let presigned = app.presign("a.png", "image/png").await;
    let url = presigned["url"].as_str().unwrap();

    let response = app.put(url, "image/jpeg", png(8, 8)).await;
    assert_eq!(
        error_code(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await,
        "content-type-mismatch"
    );

    let response = app.put(url, "image/png", vec![0u8; 3_000]).await;
    assert_eq!(
        error_code(response, StatusCode::PAYLOAD_TOO_LARGE).await,
        "payload-too-large"
    );

    // Chunked, no Content-Length: the limit is enforced while streaming.
    let chunks = futures::stream::iter(vec![
        Ok::<_, std::io::Error>(vec![0u8; 1_500]),
        Ok(vec![0u8; 1_500]),
    ]);
    let response = app
        .client
        .put(url)
        .header("content-type", "image/png")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response, StatusCode::PAYLOAD_TOO_LARGE).await,
        "payload-too-large"
    );

    let response = app
        .put(url, "image/png", b"GIF89a not really a png".to_vec())
        .await;
    assert_eq!(
        error_code(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await,
        "content-mismatch"
    );

    let response = app.put(url, "image/png", png(8, 8)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["width"].as_u64(), body["height"].as_u64()),
        (Some(8), Some(8))
    );
    assert_eq!(body["sha256"].as_str().unwrap().len(), 64);

    let response = app
        .post_json(
            "/v1/uploads",
            &json!({ "filename": "a.png", "contentType": "image/png", "size": 2_001 }),
        )
        .await;
    assert_eq!(
        error_code(response, StatusCode::PAYLOAD_TOO_LARGE).await,
        "payload-too-large"
    );
}

#[tokio::test]
async fn object_paths_cannot_escape_their_bucket() {
    let app = TestApp::spawn().await;
    for path in [
        "/o/uploads/..%2F..%2Fetc%2Fpasswd",
        "/o/uploads/uploads/%2E%2E/%2E%2E/easel.db",
        "/o/secrets/a.jpg",
        "/o/uploads/a%5Cb.jpg",
    ] {
        let response = app.get(&format!("{path}?X-Easel-Method=GET&X-Easel-Expires=9999999999&X-Easel-Key-Id=local&X-Easel-Signature=AAAA")).await;
        // The client may normalise `%2E%2E` away, leaving a path no route matches.
        let status = response.status();
        assert!(
            status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
            "{path}: {status}"
        );
        let code = error_code(response, status).await;
        assert!(
            ["url-malformed", "signature-mismatch", "route-not-found"].contains(&code.as_str()),
            "{path}: {code}"
        );
    }
}
