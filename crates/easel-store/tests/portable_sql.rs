//! The SQL of the SQLite store stays portable to PostgreSQL: no SQLite-only scalar
//! `min(a, b)` / `max(a, b)` (PostgreSQL spells them LEAST and GREATEST, and its
//! `min`/`max` are aggregates only). The aggregates, with one argument, are fine.

use std::path::Path;

/// Every `min(` / `max(` call with two or more arguments in `source`, as `file:line`.
fn scalar_min_max(name: &str, source: &str) -> Vec<String> {
    let lower = source.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut found = Vec::new();
    for function in ["min(", "max("] {
        for (at, _) in lower.match_indices(function) {
            // Rust's `.min(` / `cmp::max(` and names like `admin(` are not SQL calls.
            let before = at.checked_sub(1).map(|i| bytes[i]);
            if before
                .is_some_and(|b| b == b'.' || b == b':' || b == b'_' || b.is_ascii_alphanumeric())
            {
                continue;
            }
            let mut depth = 0;
            let mut commas = 0;
            for &b in &bytes[at + function.len() - 1..] {
                match b {
                    b'(' => depth += 1,
                    b')' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    b',' if depth == 1 => commas += 1,
                    _ => {}
                }
            }
            if commas > 0 {
                let line = lower[..at].matches('\n').count() + 1;
                found.push(format!("{name}:{line}"));
            }
        }
    }
    found
}

#[test]
fn the_sqlite_store_uses_no_scalar_min_or_max() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![root.join("sqlite.rs")];
    for entry in std::fs::read_dir(root.join("sqlite")).unwrap() {
        files.push(entry.unwrap().path());
    }
    let mut found = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).unwrap();
        found.extend(scalar_min_max(&file.display().to_string(), &source));
    }
    assert!(
        found.is_empty(),
        "use CASE WHEN instead of min(a, b)/max(a, b): {found:?}"
    );
}

#[test]
fn the_check_sees_scalar_calls_and_ignores_aggregates_and_rust() {
    let sql =
        "SELECT max(version) FROM t; UPDATE t SET a = max(a - 1, 0);\nx.min(y, z); MIN( b, c )";
    assert_eq!(scalar_min_max("s", sql), ["s:2", "s:1"]);
}
