//! Object keys: the only way a key exists is through [`ObjectKey::parse`], so a key that
//! exists can never escape its bucket directory.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Longest key accepted, in bytes (S3's limit).
pub const MAX_KEY_BYTES: usize = 1024;
/// Longest single path segment, in bytes (common filesystems' limit).
pub const MAX_SEGMENT_BYTES: usize = 255;
/// Longest sanitized file name kept in a generated key.
const MAX_FILENAME_CHARS: usize = 100;

/// A validated object key: relative, `/`-separated, no empty, `.` or `..` segments,
/// no backslashes, control characters or `#`, at most [`MAX_KEY_BYTES`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, example = "uploads/2026/03/19/7d1f4c2e-5b1a-4f0e-9a51-3f1c2d4e5f60-photo.png",
    min_length = 1, max_length = 1024, pattern = r"^(?=[^/]{1,255}(?:/|$))(?:[^/\\#\x00-\x1f\x7f-\x9f]*[^/\\#\x00-\x1f\x7f-\x9f.][^/\\#\x00-\x1f\x7f-\x9f]*|\.\.\.+)(?:/(?=[^/]{1,255}(?:/|$))(?:[^/\\#\x00-\x1f\x7f-\x9f]*[^/\\#\x00-\x1f\x7f-\x9f.][^/\\#\x00-\x1f\x7f-\x9f]*|\.\.\.+))*$")]
pub struct ObjectKey(String);

/// Why a key or folder was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key is empty.
    #[error("the key is empty")]
    Empty,
    /// The key is longer than the limit.
    #[error("the key is {0} bytes long; the limit is {MAX_KEY_BYTES}")]
    TooLong(usize),
    /// A segment is longer than the limit.
    #[error("a key segment is {0} bytes long; the limit is {MAX_SEGMENT_BYTES}")]
    SegmentTooLong(usize),
    /// The key starts with `/`.
    #[error("the key is absolute; keys are relative to their bucket")]
    Absolute,
    /// The key has an empty, `.` or `..` segment.
    #[error("the key has an empty, `.` or `..` segment")]
    BadSegment,
    /// The key has a character that is never allowed.
    #[error("the key contains {0}, which is not allowed")]
    BadCharacter(&'static str),
}

impl ObjectKey {
    /// Parses a client-supplied key.
    pub fn parse(raw: &str) -> Result<Self, KeyError> {
        if raw.is_empty() {
            return Err(KeyError::Empty);
        }
        if raw.len() > MAX_KEY_BYTES {
            return Err(KeyError::TooLong(raw.len()));
        }
        if raw.starts_with('/') {
            return Err(KeyError::Absolute);
        }
        if raw.contains('\\') {
            return Err(KeyError::BadCharacter("a backslash"));
        }
        if raw.chars().any(char::is_control) {
            return Err(KeyError::BadCharacter("a control character"));
        }
        if raw.contains('#') {
            return Err(KeyError::BadCharacter("`#`"));
        }
        for segment in raw.split('/') {
            if segment.is_empty() || segment == "." || segment == ".." {
                return Err(KeyError::BadSegment);
            }
            if segment.len() > MAX_SEGMENT_BYTES {
                return Err(KeyError::SegmentTooLong(segment.len()));
            }
        }
        Ok(ObjectKey(raw.to_owned()))
    }

    /// The key as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last segment of the key.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The file name without its extension.
    pub fn file_stem(&self) -> &str {
        let name = self.file_name();
        match name.rfind('.') {
            Some(dot) if dot > 0 => &name[..dot],
            _ => name,
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ObjectKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        ObjectKey::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Turns a client's file name into one safe to embed in a key: the last path component,
/// ASCII letters, digits, `.`, `-` and `_` only, no leading dots, at most 100 characters.
pub fn sanitize_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let mut out = String::with_capacity(base.len());
    for c in base.chars() {
        let keep = c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
        let c = if keep { c } else { '-' };
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    let trimmed = out.trim_start_matches(['.', '-']).trim_end_matches('-');
    let mut safe: String = if trimmed.chars().count() > MAX_FILENAME_CHARS {
        keep_extension_within(trimmed, MAX_FILENAME_CHARS)
    } else {
        trimmed.to_owned()
    };
    if safe.is_empty() || safe.chars().all(|c| c == '.') {
        safe = "file".to_owned();
    }
    safe
}

/// Shortens `name` to `limit` characters, keeping a short extension when there is one.
fn keep_extension_within(name: &str, limit: usize) -> String {
    let ext = name
        .rfind('.')
        .map(|dot| &name[dot..])
        .filter(|ext| ext.len() <= 10)
        .unwrap_or("");
    let stem: String = name.chars().take(limit - ext.len()).collect();
    format!("{}{ext}", stem.trim_end_matches(['.', '-']))
}

/// Validates a client-chosen folder (e.g. `photos/2024`) for generated keys: up to 8
/// segments of ASCII letters, digits, `.`, `-`, `_`, none of them `.` or `..`.
pub fn sanitize_folder(folder: &str) -> Result<String, KeyError> {
    let trimmed = folder.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    let segments: Vec<&str> = trimmed.split('/').collect();
    if segments.len() > 8 {
        return Err(KeyError::TooLong(trimmed.len()));
    }
    for segment in &segments {
        if segment.is_empty() || *segment == "." || *segment == ".." {
            return Err(KeyError::BadSegment);
        }
        if segment.len() > 64 {
            return Err(KeyError::SegmentTooLong(segment.len()));
        }
        if let Some(bad) = segment
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        {
            return Err(KeyError::BadCharacter(describe(bad)));
        }
    }
    Ok(segments.join("/"))
}

fn describe(c: char) -> &'static str {
    match c {
        '\\' => "a backslash",
        '#' => "`#`",
        c if c.is_control() => "a control character",
        c if c.is_whitespace() => "whitespace",
        _ => "a character other than letters, digits, `.`, `-` and `_`",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_generated_shape() {
        let key = ObjectKey::parse("uploads/2024/01/15/0b1c-car-damage.jpg").unwrap();
        assert_eq!(key.file_name(), "0b1c-car-damage.jpg");
        assert_eq!(key.file_stem(), "0b1c-car-damage");
    }

    #[test]
    fn refuses_escapes_and_hostile_characters() {
        let cases = [
            ("", KeyError::Empty),
            ("/etc/passwd", KeyError::Absolute),
            ("uploads/../../etc/passwd", KeyError::BadSegment),
            ("uploads/./a", KeyError::BadSegment),
            ("uploads//a", KeyError::BadSegment),
            ("uploads/a/", KeyError::BadSegment),
            ("..", KeyError::BadSegment),
            ("uploads\\..\\a", KeyError::BadCharacter("a backslash")),
            (
                "uploads/a\u{0}b",
                KeyError::BadCharacter("a control character"),
            ),
            (
                "uploads/a\nb",
                KeyError::BadCharacter("a control character"),
            ),
            ("uploads/a#1", KeyError::BadCharacter("`#`")),
        ];
        for (raw, expected) in cases {
            assert_eq!(ObjectKey::parse(raw).unwrap_err(), expected, "{raw:?}");
        }
        assert_eq!(
            ObjectKey::parse(&"a".repeat(1025)).unwrap_err(),
            KeyError::TooLong(1025)
        );
        assert_eq!(
            ObjectKey::parse(&format!("u/{}", "a".repeat(256))).unwrap_err(),
            KeyError::SegmentTooLong(256)
        );
    }

    #[test]
    fn sanitizes_file_names() {
        assert_eq!(sanitize_filename("car damage (1).JPG"), "car-damage-1-.JPG");
        assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_filename("C:\\Users\\me\\pic.png"), "pic.png");
        assert_eq!(sanitize_filename("...hidden"), "hidden");
        assert_eq!(sanitize_filename("фото.jpg"), "jpg");
        assert_eq!(sanitize_filename(""), "file");
        assert_eq!(sanitize_filename("..."), "file");
        let long = format!("{}.jpeg", "x".repeat(300));
        let short = sanitize_filename(&long);
        assert_eq!(short.chars().count(), 100);
        assert!(short.ends_with(".jpeg"));
    }

    #[test]
    fn sanitized_names_always_make_valid_keys() {
        for name in ["a/b", "#x", "\u{7}", "..", "x y", "ü", "..\\..\\a"] {
            let key = format!("uploads/2024/01/01/id-{}", sanitize_filename(name));
            ObjectKey::parse(&key).unwrap();
        }
    }

    #[test]
    fn validates_folders() {
        assert_eq!(sanitize_folder("/photos/2024/").unwrap(), "photos/2024");
        assert_eq!(sanitize_folder("").unwrap(), "");
        assert_eq!(sanitize_folder("a/../b").unwrap_err(), KeyError::BadSegment);
        assert_eq!(
            sanitize_folder("a b").unwrap_err(),
            KeyError::BadCharacter("whitespace")
        );
        assert!(sanitize_folder("a/b/c/d/e/f/g/h/i").is_err());
    }
}
