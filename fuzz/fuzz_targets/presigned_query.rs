//! Checking a presigned request (`/o/{bucket}/{*key}?X-Easel-…`): the method, the path's
//! bucket and key and the raw query, as an attacker sends them. A grant must be one the
//! fixture signed (nothing is forged by re-encoding, reordering or duplicating
//! parameters), for this object, this method and not expired; and signing any request
//! built from the input, then checking the URL, must give that request back.
#![no_main]

use easel_core::{Bucket, ObjectKey, ObjectRef};
use easel_fuzz::NOW;
use easel_fuzz::presign::{presigner, signed, split};
use easel_store::{SignedRequest, UploadRules};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (method, bucket, key, query) = split(input);
    let verifier = presigner();
    if let Ok(grant) = verifier.verify(method, bucket, key, query, NOW) {
        assert!(
            signed().iter().any(|(request, _)| *request == grant),
            "a grant the fixture never signed: {grant:?}"
        );
        assert_eq!(grant.object.bucket.as_str(), bucket);
        assert_eq!(grant.object.key.as_str(), key);
        assert!(grant.method == method || (grant.method == "GET" && method == "HEAD"));
        assert!(grant.expires >= NOW);
    }
    round_trip(method, bucket, key, query);
});

/// Any request whose object parses survives signing and checking, whatever its method
/// and upload rules (here the query text and the method) hold.
fn round_trip(method: &str, bucket: &str, key: &str, query: &str) {
    let (Ok(bucket), Ok(key)) = (bucket.parse::<Bucket>(), ObjectKey::parse(key)) else {
        return;
    };
    let upload = (!query.is_empty()).then(|| UploadRules {
        content_type: query.to_owned(),
        max_bytes: query.len() as u64,
        owner: method.to_owned(),
    });
    let request = SignedRequest {
        method: method.to_owned(),
        object: ObjectRef { bucket, key },
        expires: NOW + 60,
        upload,
    };
    let signer = presigner();
    let url = signer.sign(&request).url;
    let (path, signed_query) = url.split_once('?').expect("a signed URL has a query");
    assert!(path.ends_with(&easel_store::Presigner::object_path(&request.object)));
    let bucket = request.object.bucket.as_str();
    let key = request.object.key.as_str();
    let again = signer.verify(&request.method, bucket, key, signed_query, NOW);
    assert_eq!(again, Ok(request.clone()), "{url}");
    let later = signer.verify(&request.method, bucket, key, signed_query, NOW + 61);
    assert_eq!(later, Err(easel_store::PresignError::Expired(NOW + 60)));
}
