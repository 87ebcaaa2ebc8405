//! Regular expressions (ECMA-262 and Python alike) for rules the server writes in Rust:
//! each says exactly what its parser accepts, so the document and the server agree.

/// Zero or more white-space characters as `str::trim` removes them (Unicode's
/// White_Space, which is what `char::is_whitespace` tests).
pub const TRIMMED: &str =
    "[\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*";

/// One of `choices` in any ASCII case, white space around it allowed: the rule of a
/// parser that does `text.trim().to_ascii_lowercase()` and then compares.
pub fn any_case_choice<S: AsRef<str>>(choices: &[S]) -> String {
    let alternatives: Vec<String> = choices
        .iter()
        .map(|choice| {
            choice
                .as_ref()
                .chars()
                .map(|c| match c {
                    'a'..='z' | 'A'..='Z' => {
                        format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
                    }
                    '0'..='9' | '/' | '-' | '_' => c.to_string(),
                    other => format!("\\{other}"),
                })
                .collect()
        })
        .collect();
    format!("^{TRIMMED}({}){TRIMMED}$", alternatives.join("|"))
}

/// A whole number from `min` to `max` (at most 10) as `text.trim().parse::<u64>()` reads
/// it: an optional `+`, leading zeros allowed.
pub fn trimmed_count(min: u32, max: u32) -> String {
    assert!(
        min >= 1 && max <= 10 && min <= max,
        "counts of 1 to 10 only"
    );
    let mut alternatives = Vec::new();
    if min <= 9 {
        alternatives.push(format!("[{}-{}]", min, max.min(9)));
    }
    if max == 10 {
        alternatives.push("10".to_owned());
    }
    format!("^{TRIMMED}\\+?0*({}){TRIMMED}$", alternatives.join("|"))
}

/// The name of a field of the OpenAI routes' multipart forms (`wire::is_field_name`).
pub const FORM_FIELD_NAME: &str = "^[A-Za-z0-9_.\\[\\]-]{1,64}$";

/// What `ObjectKey::parse` refuses anywhere in a key, besides `/` between segments:
/// control characters (`char::is_control`), `\\` and `#`.
const KEY_CHAR: &str = "[^\\x00-\\x1f\\x7f-\\x9f\\\\#/]";
/// The same, less `.`.
const KEY_CHAR_NOT_DOT: &str = "[^\\x00-\\x1f\\x7f-\\x9f\\\\#/.]";

/// One segment of an object key: 1 to `max` characters, not `.` or `..`.
fn key_segment(max: usize) -> String {
    format!(
        "(?:{KEY_CHAR_NOT_DOT}{KEY_CHAR}{{0,{a}}}|\\.{KEY_CHAR_NOT_DOT}{KEY_CHAR}{{0,{b}}}|\\.\\.{KEY_CHAR}{{1,{b}}})",
        a = max - 1,
        b = max - 2,
    )
}

/// An object key as `ObjectKey::parse` takes it (without anchors): segments of 1 to 255
/// characters joined by `/`, none `.` or `..`, no control character, `\\` or `#`. (The
/// parser counts the key's 1024 and a segment's 255 in bytes; the document's limits are
/// in characters, the same for ASCII keys.)
pub fn object_key() -> String {
    let segment = key_segment(easel_core::MAX_SEGMENT_BYTES);
    format!("{segment}(?:/{segment})*")
}

/// A source as text (`parse_source`): `s3://<bucket>/<key>` or a bare key.
pub fn source_text() -> String {
    let key = object_key();
    format!("^(?:s3://(?:uploads|outputs)/{key}|{key})$")
}

/// An upload's folder as `sanitize_folder` takes it: up to 8 segments of 1 to 64 ASCII
/// letters, digits, `.`, `-` and `_`, none `.` or `..`, slashes around them ignored.
pub fn folder() -> String {
    let c = "[A-Za-z0-9._-]";
    let not_dot = "[A-Za-z0-9_-]";
    let segment = format!("(?:{not_dot}{c}{{0,63}}|\\.{not_dot}{c}{{0,62}}|\\.\\.{c}{{1,62}})");
    format!("^/*(?:{segment}(?:/{segment}){{0,7}}/*)?$")
}

#[cfg(test)]
mod tests {
    use super::{any_case_choice, trimmed_count};

    #[test]
    fn choices_match_in_any_case() {
        let pattern = any_case_choice(&["image/png", "image/svg+xml"]);
        assert_eq!(
            pattern
                .split_once('(')
                .unwrap()
                .1
                .split_once(')')
                .unwrap()
                .0,
            "[iI][mM][aA][gG][eE]/[pP][nN][gG]|[iI][mM][aA][gG][eE]/[sS][vV][gG]\\+[xX][mM][lL]"
        );
        assert!(trimmed_count(1, 10).contains("([1-9]|10)"));
    }
}
