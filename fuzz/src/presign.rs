//! A presigner with two keys (one signs, both verify, as during a rotation) and the
//! requests it signed for the seed corpus. The target's input is
//! `METHOD\nBUCKET\nKEY\nQUERY`: the request line's method, the path's bucket and key
//! (as the `/o/{bucket}/{*key}` route hands them over) and the raw query.

use easel_core::{Bucket, ObjectKey, ObjectRef};
use easel_store::{PresignKey, Presigner, SignedRequest, UploadRules};

use crate::FAR;

/// The fixture's presigner (its secrets are used nowhere else).
pub fn presigner() -> Presigner {
    let key = |id: &str, byte: u8| PresignKey {
        id: id.to_owned(),
        secret: vec![byte; 32],
    };
    Presigner::new(
        vec![key("k2", 0xa2), key("k1", 0xa1)],
        "http://127.0.0.1:8080",
    )
}

/// A presigner that signs with the older key, for URLs signed before a rotation.
pub fn old_presigner() -> Presigner {
    Presigner::new(
        vec![PresignKey {
            id: "k1".to_owned(),
            secret: vec![0xa1; 32],
        }],
        "http://127.0.0.1:8080",
    )
}

fn object(bucket: Bucket, key: &str) -> ObjectRef {
    ObjectRef {
        bucket,
        key: ObjectKey::parse(key).expect("a fixture key"),
    }
}

/// Every request the fixture signed, each with the presigner that signed it.
pub fn signed() -> Vec<(SignedRequest, Presigner)> {
    let get = |bucket, key| SignedRequest {
        method: "GET".to_owned(),
        object: object(bucket, key),
        expires: FAR,
        upload: None,
    };
    let put = SignedRequest {
        method: "PUT".to_owned(),
        object: object(Bucket::Uploads, "u/0190e0a4/photo.png"),
        expires: FAR,
        upload: Some(UploadRules {
            content_type: "image/png".to_owned(),
            max_bytes: 1_048_576,
            owner: "0190e0a4-0000-7000-8000-000000000002".to_owned(),
        }),
    };
    vec![
        (get(Bucket::Outputs, "jobs/1/thumb.webp"), presigner()),
        (get(Bucket::Uploads, "a b/ü+%20&=x.jpg"), presigner()),
        (put, presigner()),
        (get(Bucket::Outputs, "old/key.png"), old_presigner()),
    ]
}

/// The target's input for `request` signed by `presigner`, used with `method`.
pub fn input(request: &SignedRequest, presigner: &Presigner, method: &str) -> String {
    let url = presigner.sign(request).url;
    let query = url.split_once('?').map_or("", |(_, q)| q);
    format!(
        "{method}\n{}\n{}\n{query}",
        request.object.bucket, request.object.key
    )
}

/// Splits the target's input into method, bucket, key and query (missing parts empty).
pub fn split(input: &str) -> (&str, &str, &str, &str) {
    let mut parts = input.splitn(4, '\n');
    let mut next = || parts.next().unwrap_or("");
    (next(), next(), next(), next())
}
