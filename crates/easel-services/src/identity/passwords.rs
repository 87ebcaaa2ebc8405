//! Passwords: the policy check, argon2id hashing at OWASP's parameters (m = 19 MiB,
//! t = 2, p = 1, argon2's defaults), and generated passwords. Hashing is CPU-heavy:
//! async callers run it in `spawn_blocking`.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use super::settings::PasswordPolicy;

/// Longest password accepted, in characters (bounds hashing work; Cognito's limit).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// The characters Cognito counts as symbols (the space included).
pub const SYMBOLS: &str = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- ";

/// A hash of a random password, verified against when the account does not exist so
/// that a wrong name costs the same time as a wrong password.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password(&generate_password()).unwrap_or_default());

impl PasswordPolicy {
    /// Checks `password`; the error lists every rule it breaks.
    pub fn check(&self, password: &str) -> Result<(), String> {
        let mut missing = Vec::new();
        if password.chars().count() < self.min_length {
            missing.push(format!("at least {} characters", self.min_length));
        }
        if password.chars().count() > MAX_PASSWORD_CHARS {
            missing.push(format!("at most {MAX_PASSWORD_CHARS} characters"));
        }
        for (required, test, name, _) in self.rules() {
            if required && !password.chars().any(test) {
                missing.push(name.to_owned());
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!("the password needs {}", missing.join(", ")))
        }
    }
}

/// Whether a rule applies, the character test, how to name it, and the character class
/// (a regular expression) that the test is.
type Rule = (bool, fn(char) -> bool, &'static str, &'static str);

impl PasswordPolicy {
    /// The character rules, as Cognito's: ASCII letters and digits, Cognito's symbols.
    fn rules(&self) -> [Rule; 4] {
        [
            (
                self.require_uppercase,
                |c| c.is_ascii_uppercase(),
                "an uppercase letter",
                "[A-Z]",
            ),
            (
                self.require_lowercase,
                |c| c.is_ascii_lowercase(),
                "a lowercase letter",
                "[a-z]",
            ),
            (
                self.require_digit,
                |c| c.is_ascii_digit(),
                "a digit",
                "[0-9]",
            ),
            (
                self.require_symbol,
                |c| SYMBOLS.contains(c),
                "a symbol",
                "[\\^$*.\\[\\]{}()?\"!@#%&/\\\\,><':;|_~`=+\\- ]",
            ),
        ]
    }

    /// The policy's character rules as one regular expression (for the OpenAPI
    /// document; lengths are its `minLength` and `maxLength`): the required classes in
    /// any order, anything around them. `None` when no class is required.
    pub fn pattern(&self) -> Option<String> {
        let classes: Vec<&str> = self
            .rules()
            .into_iter()
            .filter(|rule| rule.0)
            .map(|rule| rule.3)
            .collect();
        if classes.is_empty() {
            return None;
        }
        let mut orders = Vec::new();
        permutations(&classes, &mut Vec::new(), &mut orders);
        let any = "[\\s\\S]*";
        let alternatives: Vec<String> = orders
            .iter()
            .map(|order| format!("{any}{}{any}", order.join(any)))
            .collect();
        Some(format!("^(?:{})$", alternatives.join("|")))
    }
}

/// Every order of `items`.
fn permutations<'a>(items: &[&'a str], prefix: &mut Vec<&'a str>, out: &mut Vec<Vec<&'a str>>) {
    if items.is_empty() {
        out.push(prefix.clone());
        return;
    }
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let item = rest.remove(i);
        prefix.push(item);
        permutations(&rest, prefix, out);
        prefix.pop();
    }
}

/// The argon2id PHC string of `password` with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Whether `password` matches `hash` (a PHC string). `None` verifies against a dummy
/// hash and fails, taking the same time.
pub fn verify_password(password: &str, hash: Option<&str>) -> bool {
    let (hash, real) = match hash {
        Some(hash) => (hash, true),
        None => (DUMMY_HASH.as_str(), false),
    };
    let matches = Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok();
    matches && real
}

/// A random 20-character password meeting any default policy.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    let body: String = bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    // Fixed classes at the end so every rule is met whatever the random part is.
    format!("{body}Aa7-")
}

/// A sign-up email, trimmed and lowercased, or why it is not one.
pub fn normalize_email(input: &str) -> Result<String, &'static str> {
    // Characters, not bytes: the document's `maxLength` counts characters.
    let email = input.trim().to_lowercase();
    let valid = input.chars().count() <= MAX_EMAIL_CHARS
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
    if valid {
        Ok(email)
    } else {
        Err("`email` is not an email address")
    }
}

/// The longest address [`normalize_email`] takes, in characters (surrounding white space
/// included).
pub const MAX_EMAIL_CHARS: usize = 254;

/// [`normalize_email`]'s rule as a regular expression (for the OpenAPI document): white
/// space (Unicode's, as `char::is_whitespace`) may surround a local part and a domain
/// around one `@`, neither holding white space, control characters or another `@`; the
/// domain holds a `.`, neither first nor last. (Lowercasing changes none of this.)
pub const EMAIL_PATTERN: &str = concat!(
    "^[\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*",
    "[^\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000@]+@",
    "[^\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000@.]",
    "[^\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000@]*\\.",
    "[^\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000@]*",
    "[^\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000@.]",
    "[\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$",
);

/// A username for admin-created accounts (an email or a plain name), trimmed and
/// lowercased, or why it is not one.
pub fn normalize_username(input: &str) -> Result<String, &'static str> {
    let name = input.trim().to_lowercase();
    let valid = (1..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@+-".contains(c));
    if valid {
        Ok(name)
    } else {
        Err("a username is 1 to 128 of a-z, 0-9, `.`, `_`, `@`, `+`, `-`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_is_cognitos() {
        let policy = PasswordPolicy::default();
        assert!(policy.check("Passw0rd!").is_ok());
        let error = policy.check("password").unwrap_err();
        assert!(error.contains("uppercase") && error.contains("digit") && error.contains("symbol"));
        assert!(!error.contains("lowercase"));
        assert!(policy.check("Pa0!").unwrap_err().contains("at least 8"));
        assert!(policy.check(&generate_password()).is_ok());
        let relaxed = PasswordPolicy {
            require_symbol: false,
            min_length: 4,
            ..PasswordPolicy::default()
        };
        assert!(relaxed.check("Ab12").is_ok());
        // Cognito's classes: non-ASCII letters are neither upper- nor lowercase letters.
        assert!(policy.check("Ässwörd1!").unwrap_err().contains("uppercase"));
        assert!(policy.check(&format!("Aa1!{}", "é".repeat(252))).is_ok());
        assert!(policy.check(&format!("Aa1!{}", "é".repeat(253))).is_err());
        assert!(policy.pattern().unwrap().starts_with("^(?:[\\s\\S]*[A-Z]"));
        assert_eq!(relaxed.pattern().unwrap().matches("[0-9]").count(), 6);
    }

    #[test]
    fn hashes_are_argon2id_at_owasp_parameters_and_verify() {
        let hash = hash_password("Correct-h0rse").unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_password("Correct-h0rse", Some(&hash)));
        assert!(!verify_password("correct-h0rse", Some(&hash)));
        assert!(!verify_password("Correct-h0rse", None));
        assert_ne!(hash, hash_password("Correct-h0rse").unwrap(), "salted");
    }

    #[test]
    fn emails_and_usernames_are_normalized() {
        assert_eq!(
            normalize_email(" Ann@Example.COM ").unwrap(),
            "ann@example.com"
        );
        for bad in [
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a n@example.com",
            "a@b@c.d",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
        assert_eq!(normalize_username("Admin").unwrap(), "admin");
        assert!(normalize_username("a/b").is_err());
        assert!(normalize_username("").is_err());
    }
}
