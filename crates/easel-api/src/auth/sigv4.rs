//! AWS Signature Version 4 verification, so the AWS SDKs and CLI can call Easel's
//! Bedrock-compatible endpoint with access keys users create in Easel. The server
//! rebuilds the canonical request from what it received (method, doubly-encoded path,
//! sorted query, the signed headers, the body's SHA-256), derives the signing key from the
//! key's secret, and compares signatures in constant time. Secrets are not stored: each
//! is an HMAC of the access key id under a server secret, recomputed when needed
//! (`easel_services::identity::access_keys`); this module only checks signatures.

use axum::http::request::Parts;
use chrono::NaiveDateTime;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// How far a request's `x-amz-date` may be from the server's clock (AWS: 15 minutes).
const MAX_SKEW_SECS: i64 = 15 * 60;

/// The parts of an `Authorization: AWS4-HMAC-SHA256 …` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigV4Header {
    /// The access key id.
    pub access_key_id: String,
    /// `YYYYMMDD` of the credential scope.
    pub date: String,
    /// The region of the scope.
    pub region: String,
    /// The service of the scope.
    pub service: String,
    /// Lower-case header names, in signing order.
    pub signed_headers: Vec<String>,
    /// Hex signature.
    pub signature: String,
}

/// Why a signed request was refused, in the words AWS uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigV4Error {
    /// The header is not a SigV4 header Easel can read.
    Malformed(String),
    /// The signature does not match, or the request is too old or too new.
    BadSignature(String),
}

/// Whether the request carries a SigV4 `Authorization` header.
pub fn is_sigv4(parts: &Parts) -> bool {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("AWS4-HMAC-SHA256 "))
}

/// Reads the `Authorization` header.
pub fn parse_header(parts: &Parts) -> Result<SigV4Header, SigV4Error> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| SigV4Error::Malformed("Missing Authentication Token".to_owned()))?;
    let rest = value.strip_prefix("AWS4-HMAC-SHA256 ").ok_or_else(|| {
        SigV4Error::Malformed("only AWS4-HMAC-SHA256 signatures are accepted".to_owned())
    })?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (key, value) = part.trim().split_once('=').ok_or_else(|| {
            SigV4Error::Malformed(format!("Authorization header part `{part}` has no `=`"))
        })?;
        match key {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed = Some(value),
            "Signature" => signature = Some(value),
            _ => {}
        }
    }
    let missing = |what: &str| {
        SigV4Error::Malformed(format!("Authorization header requires '{what}' parameter"))
    };
    let credential = credential.ok_or_else(|| missing("Credential"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [key, date, region, service, terminator] = scope[..] else {
        return Err(SigV4Error::Malformed(format!(
            "Credential should be scoped to a valid region and service: `{credential}`"
        )));
    };
    if terminator != "aws4_request" {
        return Err(SigV4Error::Malformed(
            "Credential should be scoped with a valid terminator: 'aws4_request'".to_owned(),
        ));
    }
    Ok(SigV4Header {
        access_key_id: key.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
        signed_headers: signed
            .ok_or_else(|| missing("SignedHeaders"))?
            .split(';')
            .map(str::to_owned)
            .collect(),
        signature: signature.ok_or_else(|| missing("Signature"))?.to_owned(),
    })
}

/// AWS's URI encoding: everything but `A–Z a–z 0–9 - . _ ~` as `%XX` (upper-case hex).
fn uri_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// The canonical query string: pairs decoded, re-encoded, sorted by name then value.
fn canonical_query(query: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                uri_encode(&percent_decode(&k.replace('+', " ")), false),
                uri_encode(&percent_decode(&v.replace('+', " ")), false),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Verifies the signature of a request whose header was parsed as `header`, signed with
/// `secret`, for `service`, at `now_secs`.
pub fn verify(
    parts: &Parts,
    body: &[u8],
    header: &SigV4Header,
    secret: &str,
    service: &str,
    now_secs: i64,
) -> Result<(), SigV4Error> {
    if header.service != service {
        return Err(SigV4Error::BadSignature(format!(
            "Credential should be scoped to correct service: '{service}'."
        )));
    }
    for required in ["host", "x-amz-date"] {
        if !header.signed_headers.iter().any(|h| h == required) {
            return Err(SigV4Error::BadSignature(format!(
                "'{required}' must be a 'SignedHeader' in the AWS Authorization."
            )));
        }
    }
    let header_text = |name: &str| {
        parts
            .headers
            .get_all(name)
            .iter()
            .map(|v| {
                let text = String::from_utf8_lossy(v.as_bytes());
                text.split_whitespace().collect::<Vec<_>>().join(" ")
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    let amz_date = header_text("x-amz-date");
    let signed_at = NaiveDateTime::parse_from_str(&amz_date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| {
            SigV4Error::BadSignature("X-Amz-Date must be in ISO 8601 basic format".to_owned())
        })?
        .and_utc()
        .timestamp();
    if (now_secs - signed_at).abs() > MAX_SKEW_SECS {
        return Err(SigV4Error::BadSignature(format!(
            "Signature expired: {amz_date} is now earlier or later than 15 minutes from the server's time."
        )));
    }
    if !amz_date.starts_with(&header.date) {
        return Err(SigV4Error::BadSignature(
            "the credential scope date does not match X-Amz-Date".to_owned(),
        ));
    }
    let body_hash = hex::encode(Sha256::digest(body));
    if let Some(claimed) = parts.headers.get("x-amz-content-sha256")
        && claimed.as_bytes() != body_hash.as_bytes()
        && claimed.as_bytes() != b"UNSIGNED-PAYLOAD"
    {
        return Err(SigV4Error::BadSignature(
            "The provided 'x-amz-content-sha256' header does not match what was computed."
                .to_owned(),
        ));
    }
    let payload_hash = match parts.headers.get("x-amz-content-sha256") {
        Some(v) if v.as_bytes() == b"UNSIGNED-PAYLOAD" => "UNSIGNED-PAYLOAD".to_owned(),
        _ => body_hash,
    };
    // Non-S3 services encode each path segment again over the path as sent.
    let path = parts.uri.path();
    let canonical_uri = path
        .split('/')
        .map(|segment| uri_encode(segment, false))
        .collect::<Vec<_>>()
        .join("/");
    let canonical_headers: String = header
        .signed_headers
        .iter()
        .map(|name| {
            let value = if name == "host" && parts.headers.get("host").is_none() {
                parts
                    .uri
                    .authority()
                    .map(|a| a.to_string())
                    .unwrap_or_default()
            } else {
                header_text(name)
            };
            format!("{name}:{value}\n")
        })
        .collect();
    let signed_headers = header.signed_headers.join(";");
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        parts.method.as_str(),
        if canonical_uri.is_empty() {
            "/".to_owned()
        } else {
            canonical_uri
        },
        canonical_query(parts.uri.query()),
        canonical_headers,
        signed_headers,
        payload_hash
    );
    let scope = format!(
        "{}/{}/{}/aws4_request",
        header.date, header.region, header.service
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let key = [
        header.date.as_str(),
        &header.region,
        &header.service,
        "aws4_request",
    ]
    .iter()
    .fold(format!("AWS4{secret}").into_bytes(), |key, part| {
        hmac(&key, part.as_bytes())
    });
    let expected = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    let matches: bool = subtle_eq(expected.as_bytes(), header.signature.as_bytes());
    if matches {
        Ok(())
    } else {
        Err(SigV4Error::BadSignature(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".to_owned(),
        ))
    }
}

/// Constant-time equality (the lengths of hex signatures are public).
fn subtle_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    /// AWS's published SigV4 test suite case `get-vanilla` (aws-sig-v4-test-suite):
    /// the expected signature comes from AWS's documentation, not from this code.
    #[test]
    fn aws_test_suite_get_vanilla() {
        let request = Request::get("/")
            .header("host", "example.amazonaws.com")
            .header("x-amz-date", "20150830T123600Z")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            )
            .body(())
            .unwrap();
        let (parts, ()) = request.into_parts();
        let header = parse_header(&parts).unwrap();
        let now = NaiveDateTime::parse_from_str("20150830T123600Z", "%Y%m%dT%H%M%SZ")
            .unwrap()
            .and_utc()
            .timestamp();
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        assert_eq!(verify(&parts, b"", &header, secret, "service", now), Ok(()));
        assert!(matches!(
            verify(&parts, b"", &header, "wrong", "service", now),
            Err(SigV4Error::BadSignature(_))
        ));
        assert!(matches!(
            verify(&parts, b"", &header, secret, "service", now + 16 * 60),
            Err(SigV4Error::BadSignature(m)) if m.starts_with("Signature expired")
        ));
        assert!(matches!(
            verify(&parts, b"", &header, secret, "bedrock", now),
            Err(SigV4Error::BadSignature(_))
        ));
    }
}
