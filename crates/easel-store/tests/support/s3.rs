//! An S3-compatible store for tests: the server at `EASEL_TEST_S3` (`scripts/s3` starts
//! s3s-fs and prints its URL; default `http://127.0.0.1:9310`), bucket `easel-test`,
//! each test under a key prefix of its own so tests run in parallel.

use easel_store::{S3Credentials, S3Location, S3Store};

/// Access key id and secret the test server is started with (`scripts/s3`).
pub const ACCESS_KEY: &str = "easel-test";
/// See [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "easel-test-secret";

/// The test server's endpoint.
pub fn endpoint() -> String {
    std::env::var("EASEL_TEST_S3").unwrap_or_else(|_| "http://127.0.0.1:9310".to_owned())
}

/// The test credentials.
pub fn credentials() -> S3Credentials {
    S3Credentials {
        access_key_id: Some(ACCESS_KEY.to_owned()),
        secret_access_key: Some(SECRET_KEY.to_owned()),
        session_token: None,
    }
}

/// A store under a fresh prefix of the test bucket, and where it is.
pub fn store() -> (S3Store, S3Location) {
    let url = format!(
        "s3://easel-test?endpoint={}&region=us-east-1&path_style=true&prefix=t-{}",
        endpoint(),
        uuid::Uuid::new_v4().simple()
    );
    let location = S3Location::parse(&url).unwrap();
    let store = S3Store::open(&location, &credentials()).unwrap();
    (store, location)
}
