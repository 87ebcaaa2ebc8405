//! Webhooks' pure parts: which callback URLs and addresses are allowed (no private,
//! loopback or link-local targets unless the deployment allows them: SSRF), each
//! owner's signing secret derived from the deployment's key, and the Standard Webhooks
//! signature (`webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`).

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use sha2::Sha256;

/// Longest callback URL accepted.
pub const MAX_CALLBACK_URL: usize = 2048;

/// A DNS name whose last label begins with a letter (so no parser takes it for an
/// address), labels of ASCII letters and digits with single inner hyphens.
const NAME: &str = "(?:[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*\\.)*[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*";
/// A dotted-quad IPv4 address.
const IPV4: &str = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}";
/// A bracketed IPv6 address (the usual textual forms, an IPv4 tail included).
fn ipv6() -> String {
    let h = "[0-9A-Fa-f]{1,4}";
    let forms = [
        format!("(?:{h}:){{7}}{h}"),
        format!("(?:{h}:){{1,7}}:"),
        format!("(?:{h}:){{1,6}}:{h}"),
        format!("(?:{h}:){{1,5}}(?::{h}){{1,2}}"),
        format!("(?:{h}:){{1,4}}(?::{h}){{1,3}}"),
        format!("(?:{h}:){{1,3}}(?::{h}){{1,4}}"),
        format!("(?:{h}:){{1,2}}(?::{h}){{1,5}}"),
        format!("{h}:(?::{h}){{1,6}}"),
        format!(":(?:(?::{h}){{1,7}}|:)"),
        format!("(?:{h}:){{6}}{IPV4}"),
        format!("::(?:[Ff]{{4}}(?::0{{1,4}})?:)?{IPV4}"),
        format!("(?:{h}:){{1,4}}:{IPV4}"),
    ];
    format!("\\[(?:{})\\]", forms.join("|"))
}

/// The rest: a port of 0 to 65535, a path and a query of URL-safe ASCII and
/// percent-escapes (`%20`: a real URL may need them; a stray `%` is refused).
const REST: &str = "(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0))?(?:/(?:[A-Za-z0-9._~!$&'()*+,;=:@/-]|%[0-9A-Fa-f]{2})*)?(?:\\?(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?";

/// The syntax of a callback URL, as a regular expression: `http` or `https`, a host
/// that is a DNS name or (with `ip_literals`) an IPv4 or bracketed IPv6 address, an optional
/// port, path and query of URL-safe ASCII and percent-escapes; no credentials or fragment.
pub fn callback_url_pattern(ip_literals: bool) -> String {
    let host = if ip_literals {
        format!("(?:{NAME}|{IPV4}|{})", ipv6())
    } else {
        NAME.to_owned()
    };
    format!("^https?://{host}{REST}$")
}

static CALLBACK_URL: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(&callback_url_pattern(true)).expect("the callback URL pattern compiles")
});

/// Whether a webhook may go to private addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WebhookPolicy {
    /// Allow loopback, private (RFC 1918, ULA), link-local, CGNAT and unspecified
    /// addresses (a deployment whose receivers are on its own network).
    pub allow_private: bool,
}

impl WebhookPolicy {
    /// Whether a delivery may connect to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }

    /// Checks a callback URL when it is submitted: `http` or `https`, a host, no
    /// credentials, at most [`MAX_CALLBACK_URL`] characters, and not a literal address
    /// (or `localhost`) the policy refuses. Names are checked again, resolved, at each
    /// delivery.
    pub fn check_url(&self, raw: &str) -> Result<url::Url, String> {
        if raw.len() > MAX_CALLBACK_URL {
            return Err(format!(
                "callbackUrl is longer than {MAX_CALLBACK_URL} characters"
            ));
        }
        // The syntax first (the document's pattern), so that what the URL parser would
        // also take (escapes, odd hosts, white space it trims) is not a second rule.
        if !CALLBACK_URL.is_match(raw) {
            return Err(
                "callbackUrl must be http(s)://host[:port][/path][?query]: a DNS name or an \
                 IPv4 address, URL-safe ASCII, no credentials or fragment"
                    .to_owned(),
            );
        }
        let parsed = url::Url::parse(raw).map_err(|e| format!("callbackUrl is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err("callbackUrl must be an http or https URL".to_owned());
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err("callbackUrl must not carry credentials".to_owned());
        }
        let refused = || {
            "callbackUrl points at a private, loopback or link-local address, which this \
             deployment does not call"
                .to_owned()
        };
        match parsed.host() {
            None => return Err("callbackUrl has no host".to_owned()),
            Some(url::Host::Ipv4(ip)) if !self.allows(IpAddr::V4(ip)) => return Err(refused()),
            Some(url::Host::Ipv6(ip)) if !self.allows(IpAddr::V6(ip)) => return Err(refused()),
            Some(url::Host::Domain(name))
                if !self.allow_private
                    && (name.eq_ignore_ascii_case("localhost")
                        || name.to_ascii_lowercase().ends_with(".localhost")) =>
            {
                return Err(refused());
            }
            Some(_) => {}
        }
        Ok(parsed)
    }
}

/// Whether `ip` is a public unicast address.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // CGNAT, 100.64/10
                || (a == 198 && (b == 18 || b == 19)) // benchmarking, 198.18/15
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local, fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local, fe80::/10
                || first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
        }
    }
}

/// The signing secret of `owner`'s webhooks, `whsec_<base64>` as Standard Webhooks
/// writes secrets: derived from the deployment's `key`, so every process computes the
/// same one and nothing per user is stored.
pub fn owner_secret(key: &[u8], owner: &str) -> String {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"easel webhook secret\0");
    mac.update(owner.as_bytes());
    format!("whsec_{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` header for a delivery: `v1,` and the base64 HMAC-SHA256, under
/// the secret's decoded bytes, of `{id}.{timestamp}.{body}`.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let raw = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = STANDARD
        .decode(raw)
        .unwrap_or_else(|_| raw.as_bytes().to_vec());
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_refused_unless_allowed() {
        let strict = WebhookPolicy::default();
        for refused in [
            "http://127.0.0.1/x",
            "http://10.1.2.3/",
            "http://192.168.0.1/",
            "http://172.16.5.5/",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:10.0.0.1]/",
            "http://localhost:8080/",
            "http://api.localhost/",
        ] {
            assert!(strict.check_url(refused).is_err(), "{refused}");
        }
        for fine in [
            "https://example.com/hook",
            "http://93.184.216.34/",
            "https://[2606:4700::1111]/",
        ] {
            assert!(strict.check_url(fine).is_ok(), "{fine}");
        }
        let open = WebhookPolicy {
            allow_private: true,
        };
        assert!(open.check_url("http://127.0.0.1:9000/hook").is_ok());
        // The syntax is the document's pattern: nothing the URL parser would repair.
        for odd in [
            "HTTP://example.com/",
            " https://example.com/",
            "https://example.com/#x",
            "https://exa mple.com/",
            "https://example.com:65536/",
            "https://1.2.3.999/",
            "https://xn--a.com/",
            "https://example.com/a%zz",
            "0",
        ] {
            assert!(open.check_url(odd).is_err(), "{odd}");
        }
        // Percent-escapes a real URL may need are taken.
        assert!(open.check_url("https://example.com/a%20b?q=%C3%A9").is_ok());
        for bad in [
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "not a url",
            "http://",
        ] {
            assert!(open.check_url(bad).is_err(), "{bad}");
        }
    }

    /// The example of the Standard Webhooks specification, signed as it signs it.
    #[test]
    fn signatures_match_the_standard_webhooks_example() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        let a = owner_secret(b"deployment key", "alice");
        assert!(a.starts_with("whsec_") && a != owner_secret(b"deployment key", "bob"));
        assert_eq!(a, owner_secret(b"deployment key", "alice"));
    }
}
