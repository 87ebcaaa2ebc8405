//! Presigned URLs for objects that Easel serves itself (the local blob store): an
//! HMAC-SHA256 signature binds the method, bucket, key and expiry, and for uploads the
//! content type, the size limit and the owner the object will belong to. Several keys are
//! accepted so secrets can be rotated: the first signs, all verify.

use std::collections::HashMap;
use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use easel_core::{Bucket, ObjectKey, ObjectRef};
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Characters left unescaped in URL path segments and query values (RFC 3986 unreserved).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

const P_METHOD: &str = "X-Easel-Method";
const P_EXPIRES: &str = "X-Easel-Expires";
const P_KEY_ID: &str = "X-Easel-Key-Id";
const P_CONTENT_TYPE: &str = "X-Easel-Content-Type";
const P_MAX_BYTES: &str = "X-Easel-Max-Bytes";
const P_OWNER: &str = "X-Easel-Owner";
const P_SIGNATURE: &str = "X-Easel-Signature";

/// A signing secret with the id that names it in URLs.
#[derive(Clone)]
pub struct PresignKey {
    /// Short public name of the key.
    pub id: String,
    /// The secret (at least 32 bytes).
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for PresignKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresignKey")
            .field("id", &self.id)
            .field("secret", &"***")
            .finish()
    }
}

/// Constraints an upload URL carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRules {
    /// The only `Content-Type` the PUT may send.
    pub content_type: String,
    /// The most bytes the PUT may send.
    pub max_bytes: u64,
    /// The principal the stored object will belong to.
    pub owner: String,
}

/// Everything a presigned URL grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// `GET` or `PUT` (a `GET` URL also allows `HEAD`).
    pub method: String,
    /// The object.
    pub object: ObjectRef,
    /// Expiry, Unix seconds.
    pub expires: i64,
    /// Upload constraints, for `PUT` URLs.
    pub upload: Option<UploadRules>,
}

/// A freshly signed URL.
#[derive(Debug, Clone)]
pub struct Presigned {
    /// The absolute URL.
    pub url: String,
    /// Expiry, Unix seconds.
    pub expires: i64,
}

/// Why a presigned URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresignError {
    /// A parameter is missing or unreadable.
    #[error("the URL is not a valid presigned URL: {0}")]
    Malformed(String),
    /// The expiry time has passed.
    #[error("the URL expired at {0} (Unix time); ask for a new one")]
    Expired(i64),
    /// The URL was signed for another method.
    #[error("the URL was signed for {signed}, not {used}")]
    WrongMethod {
        /// The signed method.
        signed: String,
        /// The method used.
        used: String,
    },
    /// The signature does not match (tampered URL or unknown key).
    #[error("the URL's signature does not match; it was altered or its key was retired")]
    BadSignature,
}

impl PresignError {
    /// A stable kebab-case code.
    pub fn code(&self) -> &'static str {
        match self {
            PresignError::Malformed(_) => "url-malformed",
            PresignError::Expired(_) => "url-expired",
            PresignError::WrongMethod { .. } => "url-method-mismatch",
            PresignError::BadSignature => "signature-mismatch",
        }
    }
}

/// Signs and verifies presigned URLs.
#[derive(Debug, Clone)]
pub struct Presigner {
    keys: Vec<PresignKey>,
    base_url: String,
}

impl Presigner {
    /// A presigner producing URLs under `base_url` (e.g. `http://127.0.0.1:8080`).
    /// `keys` must not be empty; the first one signs.
    pub fn new(keys: Vec<PresignKey>, base_url: &str) -> Self {
        assert!(!keys.is_empty(), "a presigner needs at least one key");
        Presigner {
            keys,
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The path under which presigned objects are served: `/o/<bucket>/<key>`.
    pub fn object_path(object: &ObjectRef) -> String {
        let mut path = format!("/o/{}", object.bucket);
        for segment in object.key.as_str().split('/') {
            path.push('/');
            path.extend(utf8_percent_encode(segment, UNRESERVED));
        }
        path
    }

    /// Signs `request` into an absolute URL.
    pub fn sign(&self, request: &SignedRequest) -> Presigned {
        let key = &self.keys[0];
        let mut params: Vec<(&str, String)> = vec![
            (P_METHOD, request.method.clone()),
            (P_EXPIRES, request.expires.to_string()),
            (P_KEY_ID, key.id.clone()),
        ];
        if let Some(rules) = &request.upload {
            params.push((P_CONTENT_TYPE, rules.content_type.clone()));
            params.push((P_MAX_BYTES, rules.max_bytes.to_string()));
            params.push((P_OWNER, rules.owner.clone()));
        }
        let signature = URL_SAFE_NO_PAD.encode(mac(&key.secret, request).finalize().into_bytes());
        params.push((P_SIGNATURE, signature));
        let mut url = format!("{}{}", self.base_url, Self::object_path(&request.object));
        for (i, (name, value)) in params.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            let _ = write!(
                url,
                "{sep}{name}={}",
                utf8_percent_encode(value, UNRESERVED)
            );
        }
        Presigned {
            url,
            expires: request.expires,
        }
    }

    /// Verifies a request for `bucket`/`key` made with `method` and the raw query string.
    /// `now` is Unix seconds. Signatures are compared in constant time.
    pub fn verify(
        &self,
        method: &str,
        bucket: &str,
        key: &str,
        raw_query: &str,
        now: i64,
    ) -> Result<SignedRequest, PresignError> {
        let query = parse_query(raw_query)?;
        let get = |name: &str| {
            query
                .get(name)
                .cloned()
                .ok_or_else(|| PresignError::Malformed(format!("missing {name}")))
        };
        let signed_method = get(P_METHOD)?;
        let expires: i64 = get(P_EXPIRES)?
            .parse()
            .map_err(|_| PresignError::Malformed(format!("{P_EXPIRES} is not a number")))?;
        let key_id = get(P_KEY_ID)?;
        let signature = URL_SAFE_NO_PAD
            .decode(get(P_SIGNATURE)?)
            .map_err(|_| PresignError::Malformed(format!("{P_SIGNATURE} is not base64url")))?;
        let object = ObjectRef {
            bucket: bucket
                .parse::<Bucket>()
                .map_err(|e| PresignError::Malformed(e.to_string()))?,
            key: ObjectKey::parse(key).map_err(|e| PresignError::Malformed(e.to_string()))?,
        };
        let upload = match query.get(P_CONTENT_TYPE) {
            None => None,
            Some(content_type) => Some(UploadRules {
                content_type: content_type.clone(),
                max_bytes: get(P_MAX_BYTES)?.parse().map_err(|_| {
                    PresignError::Malformed(format!("{P_MAX_BYTES} is not a number"))
                })?,
                owner: get(P_OWNER)?,
            }),
        };
        let request = SignedRequest {
            method: signed_method,
            object,
            expires,
            upload,
        };
        let secret = self
            .keys
            .iter()
            .find(|k| k.id == key_id)
            .ok_or(PresignError::BadSignature)?;
        mac(&secret.secret, &request)
            .verify_slice(&signature)
            .map_err(|_| PresignError::BadSignature)?;
        if now > request.expires {
            return Err(PresignError::Expired(request.expires));
        }
        let allowed = request.method == method || (request.method == "GET" && method == "HEAD");
        if !allowed {
            return Err(PresignError::WrongMethod {
                signed: request.method,
                used: method.to_owned(),
            });
        }
        Ok(request)
    }
}

/// The MAC over the canonical form of a request. Fields are newline-separated; none can
/// contain a newline (keys refuse control characters, the rest are ours).
fn mac(secret: &[u8], request: &SignedRequest) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
    let (content_type, max_bytes, owner) = match &request.upload {
        Some(rules) => (
            rules.content_type.as_str(),
            rules.max_bytes.to_string(),
            rules.owner.as_str(),
        ),
        None => ("", String::new(), ""),
    };
    let canonical = format!(
        "EASEL-HMAC-SHA256\n{}\n{}\n{}\n{}\n{content_type}\n{max_bytes}\n{owner}",
        request.method, request.object.bucket, request.object.key, request.expires
    );
    mac.update(canonical.as_bytes());
    mac
}

fn parse_query(raw: &str) -> Result<HashMap<String, String>, PresignError> {
    let mut map = HashMap::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_decode_str(&s.replace('+', " "))
                .decode_utf8()
                .map(|v| v.into_owned())
                .map_err(|_| PresignError::Malformed("the query is not UTF-8".to_owned()))
        };
        if map.insert(decode(name)?, decode(value)?).is_some() {
            return Err(PresignError::Malformed(format!(
                "parameter {name} appears twice"
            )));
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presigner(keys: &[(&str, &[u8])]) -> Presigner {
        let keys = keys
            .iter()
            .map(|(id, secret)| PresignKey {
                id: (*id).to_owned(),
                secret: secret.to_vec(),
            })
            .collect();
        Presigner::new(keys, "http://127.0.0.1:8080/")
    }

    fn request(upload: bool) -> SignedRequest {
        SignedRequest {
            method: if upload { "PUT" } else { "GET" }.to_owned(),
            object: ObjectRef {
                bucket: Bucket::Uploads,
                key: ObjectKey::parse("uploads/2024/01/15/id-a b+c.jpg").unwrap(),
            },
            expires: 1_000,
            upload: upload.then(|| UploadRules {
                content_type: "image/jpeg".to_owned(),
                max_bytes: 10,
                owner: "user&1".to_owned(),
            }),
        }
    }

    fn split(url: &str) -> (String, String) {
        let rest = url
            .strip_prefix("http://127.0.0.1:8080/o/uploads/")
            .unwrap();
        let (path, query) = rest.split_once('?').unwrap();
        let key = percent_decode_str(path).decode_utf8().unwrap().into_owned();
        (key, query.to_owned())
    }

    #[test]
    fn round_trips_and_binds_every_field() {
        let signer = presigner(&[("k1", b"0123456789abcdef0123456789abcdef")]);
        let signed = signer.sign(&request(true));
        let (key, query) = split(&signed.url);
        assert_eq!(
            signer.verify("PUT", "uploads", &key, &query, 999),
            Ok(request(true))
        );
        assert_eq!(
            signer.verify("PUT", "uploads", &key, &query, 1_001),
            Err(PresignError::Expired(1_000))
        );
        assert!(matches!(
            signer.verify("GET", "uploads", &key, &query, 999),
            Err(PresignError::WrongMethod { .. })
        ));
        let tampered = [
            query.replace("X-Easel-Max-Bytes=10", "X-Easel-Max-Bytes=99"),
            query.replace("image%2Fjpeg", "image%2Fpng"),
            query.replace("X-Easel-Expires=1000", "X-Easel-Expires=9999"),
            query.replace("user%261", "admin"),
        ];
        for q in tampered {
            assert_ne!(q, query);
            assert_eq!(
                signer.verify("PUT", "uploads", &key, &q, 999),
                Err(PresignError::BadSignature),
                "{q}"
            );
        }
        assert_eq!(
            signer.verify("PUT", "outputs", &key, &query, 999),
            Err(PresignError::BadSignature)
        );
        assert_eq!(
            signer.verify("PUT", "uploads", "uploads/other.jpg", &query, 999),
            Err(PresignError::BadSignature)
        );
    }

    #[test]
    fn get_urls_allow_head_and_rotation_keeps_old_urls_valid() {
        let old = presigner(&[("k1", b"0123456789abcdef0123456789abcdef")]);
        let signed = old.sign(&request(false));
        let rotated = presigner(&[
            ("k2", b"fedcba9876543210fedcba9876543210"),
            ("k1", b"0123456789abcdef0123456789abcdef"),
        ]);
        let (key, query) = split(&signed.url);
        assert!(rotated.verify("HEAD", "uploads", &key, &query, 0).is_ok());
        let retired = presigner(&[("k2", b"fedcba9876543210fedcba9876543210")]);
        assert_eq!(
            retired.verify("GET", "uploads", &key, &query, 0),
            Err(PresignError::BadSignature)
        );
    }

    #[test]
    fn malformed_queries_are_refused() {
        let signer = presigner(&[("k1", b"0123456789abcdef0123456789abcdef")]);
        for query in [
            "",
            "X-Easel-Method=GET",
            "X-Easel-Method=GET&X-Easel-Expires=x&X-Easel-Key-Id=k1&X-Easel-Signature=AA",
            "X-Easel-Method=GET&X-Easel-Method=PUT",
        ] {
            assert!(matches!(
                signer.verify("GET", "uploads", "a.jpg", query, 0),
                Err(PresignError::Malformed(_))
            ));
        }
    }
}
