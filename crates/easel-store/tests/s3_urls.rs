//! The store itself enforces what Easel's S3 URLs bind: a real S3-compatible server
//! (s3s-fs, which checks SigV4 like S3; `scripts/s3`) refuses an expired upload URL, a
//! tampered signature, another content type and another length, and takes the upload
//! sent as signed. Download URLs read the object back.

#[path = "support/s3.rs"]
mod s3;

use std::time::Duration;

use easel_core::{Bucket, ObjectKey, ObjectRef};
use easel_store::{SignedUrl, UploadUrl, UrlSigner};
use reqwest::StatusCode;

fn upload_request(object: &ObjectRef, size: Option<u64>, ttl_secs: i64) -> UploadUrl {
    UploadUrl {
        object: object.clone(),
        content_type: "image/png".to_owned(),
        max_bytes: 1_000,
        size,
        owner: "alice".to_owned(),
        ttl_secs,
    }
}

async fn put(signed: &SignedUrl, content_type: &str, body: Vec<u8>) -> StatusCode {
    reqwest::Client::new()
        .put(&signed.url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}

fn object(key: &str) -> ObjectRef {
    ObjectRef {
        bucket: Bucket::Uploads,
        key: ObjectKey::parse(key).unwrap(),
    }
}

#[tokio::test]
async fn the_store_enforces_what_upload_urls_bind() {
    let (store, _) = s3::store();
    let signer = store.signer;
    let at = object("uploads/a.png");

    // Bound length: any other body size is refused by the store.
    let signed = signer
        .upload(&upload_request(&at, Some(5), 600))
        .await
        .unwrap();
    assert!(
        signed
            .headers
            .contains(&("content-length".to_owned(), "5".to_owned()))
    );
    assert_eq!(
        put(&signed, "image/png", vec![1; 6]).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        put(&signed, "image/jpeg", vec![1; 5]).await,
        StatusCode::FORBIDDEN
    );
    let mut tampered = signed.clone();
    let at_signature = tampered.url.find("X-Amz-Signature=").unwrap() + 16;
    let flipped = if &tampered.url[at_signature..=at_signature] == "0" {
        "1"
    } else {
        "0"
    };
    tampered
        .url
        .replace_range(at_signature..=at_signature, flipped);
    assert_eq!(
        put(&tampered, "image/png", vec![1; 5]).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(put(&signed, "image/png", vec![1; 5]).await, StatusCode::OK);

    // Without an announced size the content type is still bound.
    let other = object("uploads/b.png");
    let signed = signer
        .upload(&upload_request(&other, None, 600))
        .await
        .unwrap();
    assert_eq!(
        put(&signed, "text/html", b"<p>".to_vec()).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(put(&signed, "image/png", vec![2; 9]).await, StatusCode::OK);

    // Expired.
    let late = object("uploads/c.png");
    let signed = signer
        .upload(&upload_request(&late, Some(3), 1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(
        put(&signed, "image/png", vec![3; 3]).await,
        StatusCode::FORBIDDEN
    );

    // A download URL reads the object back; a tampered one does not.
    let download = signer.download(&at, 3_600).await.unwrap();
    let response = reqwest::get(&download.url).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().as_ref(), &[1; 5]);
    let response = reqwest::get(download.url.replace("uploads/a.png", "uploads/b.png"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}
