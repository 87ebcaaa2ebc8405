//! The embedded files. Every file under `assets/` must be listed here (a test checks
//! that the list and the directory agree), and its type comes from its extension.

/// One embedded file, by its path under `assets/`.
pub struct Asset {
    /// The path under `assets/` (and under `/ui/`), with `/` separators.
    pub path: &'static str,
    /// The file's bytes.
    pub bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal) => {
        Asset {
            path: $path,
            bytes: include_bytes!(concat!("../assets/", $path)),
        }
    };
}

/// The app shell, served at `/`.
pub const INDEX: &[u8] = include_bytes!("../assets/index.html");

/// Everything served under `/ui/`.
pub const ASSETS: &[Asset] = &[
    asset!("app.css"),
    asset!("app.js"),
    asset!("icon.svg"),
    asset!("js/api.js"),
    asset!("js/dom.js"),
    asset!("js/errors.js"),
    asset!("js/images.js"),
    asset!("js/jobs.js"),
    asset!("js/mask.js"),
    asset!("js/pow.js"),
    asset!("js/pow-worker.js"),
    asset!("js/session.js"),
    asset!("js/pages/auth.js"),
    asset!("js/pages/dashboard.js"),
    asset!("js/pages/edit.js"),
    asset!("js/pages/generate.js"),
    asset!("js/pages/history.js"),
    asset!("js/pages/keys.js"),
    asset!("js/pages/admin.js"),
    asset!("js/pages/account.js"),
    asset!("js/pages/recovery.js"),
    asset!("js/pages/process.js"),
];

/// The asset at `path`, if there is one.
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// The `Content-Type` of a file, from its extension.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::{ASSETS, content_type};

    fn files_under(dir: &Path, prefix: &str, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("assets/ is readable") {
            let entry = entry.expect("a directory entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = format!("{prefix}{name}");
            if entry.file_type().expect("a file type").is_dir() {
                files_under(&entry.path(), &format!("{path}/"), out);
            } else {
                out.insert(path);
            }
        }
    }

    #[test]
    fn every_file_under_assets_is_embedded_and_nothing_else() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        let mut on_disk = BTreeSet::new();
        files_under(&dir, "", &mut on_disk);
        on_disk.remove("index.html"); // served at `/`
        let embedded: BTreeSet<String> = ASSETS.iter().map(|a| a.path.to_owned()).collect();
        assert_eq!(embedded.len(), ASSETS.len(), "an asset is listed twice");
        assert_eq!(on_disk, embedded, "assets/ and the ASSETS list differ");
    }

    #[test]
    fn every_asset_has_a_known_type() {
        for asset in ASSETS {
            assert_ne!(
                content_type(asset.path),
                "application/octet-stream",
                "{}",
                asset.path
            );
        }
    }

    #[test]
    fn scripts_import_only_embedded_modules() {
        // A relative import of a file that is not embedded would 404 in the browser.
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let text = std::str::from_utf8(asset.bytes).expect("scripts are UTF-8");
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let Some(spec) = line.split(['"', '\'']).nth(1) else {
                    continue;
                };
                let base = asset.path.rsplit_once('/').map_or("", |(dir, _)| dir);
                let target = resolve(base, spec);
                assert!(
                    super::find(&target).is_some(),
                    "{} imports {spec} ({target}), which is not embedded",
                    asset.path
                );
            }
        }
    }

    fn resolve(base: &str, spec: &str) -> String {
        let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
        let spec = spec.strip_prefix("/ui/").map_or(spec, |rest| {
            parts.clear();
            rest
        });
        for piece in spec.split('/') {
            match piece {
                "." | "" => {}
                ".." => {
                    parts.pop();
                }
                other => parts.push(other),
            }
        }
        parts.join("/")
    }
}
