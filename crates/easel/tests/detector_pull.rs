//! `easel models pull` of object detectors, run as a user runs it, against a stand-in
//! for the Hugging Face hub (the real one cannot be reached from these machines) that
//! speaks its API: the listing with LFS sizes and hashes and the `resolve` downloads.
//! The served models are the ones `scripts/detect-fixtures` generates
//! (`EASEL_TEST_DETECT`, default target/detect-fixtures): a pulled model is installed
//! under its name, gets the COCO names when its export carries none, and is then used
//! by `detect`; a file that is not a detector is refused and nothing is installed.
#![cfg(feature = "diffusion")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

fn fixtures() -> PathBuf {
    let dir = std::env::var_os("EASEL_TEST_DETECT").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/detect-fixtures"),
        PathBuf::from,
    );
    assert!(
        dir.join("yolo-coco-tiny-unnamed.onnx").exists(),
        "{} lacks the detection fixtures: run scripts/detect-fixtures",
        dir.display()
    );
    dir
}

/// The repository `acme/detectors`: file name in the repository → fixture file.
#[derive(Clone)]
struct Hub {
    files: Vec<(String, PathBuf)>,
}

async fn listing(
    State(hub): State<Hub>,
    UrlPath((owner, name, _rev)): UrlPath<(String, String, String)>,
) -> Response {
    if format!("{owner}/{name}") != "acme/detectors" {
        return (StatusCode::NOT_FOUND, "Repository not found").into_response();
    }
    let siblings: Vec<serde_json::Value> = hub
        .files
        .iter()
        .map(|(name, path)| {
            let bytes = std::fs::read(path).unwrap();
            serde_json::json!({
                "rfilename": name,
                "size": bytes.len(),
                "lfs": {"sha256": hex::encode(Sha256::digest(&bytes)), "size": bytes.len()},
            })
        })
        .collect();
    axum::Json(serde_json::json!({"id": "acme/detectors", "sha": "feedbeef", "siblings": siblings}))
        .into_response()
}

async fn resolve(
    State(hub): State<Hub>,
    UrlPath((_owner, _name, _rev, path)): UrlPath<(String, String, String, String)>,
) -> Response {
    match hub.files.iter().find(|(name, _)| *name == path) {
        Some((_, file)) => std::fs::read(file).unwrap().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Serves the hub on a port of its own thread; returns its URL.
fn serve() -> String {
    let f = fixtures();
    let hub = Hub {
        files: vec![
            ("yolo11n.onnx".into(), f.join("yolo-coco-tiny-unnamed.onnx")),
            ("named/coco.onnx".into(), f.join("yolo-coco-tiny.onnx")),
            ("broken.onnx".into(), f.join("not-a-detector.onnx")),
        ],
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let app = Router::new()
                .route("/api/models/{owner}/{name}/revision/{rev}", get(listing))
                .route("/{owner}/{name}/resolve/{rev}/{*path}", get(resolve))
                .with_state(hub);
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{address}")
}

fn easel(hub: &str, data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_easel"))
        .args(args)
        .env_remove("EASEL_CONFIG")
        .env("HF_ENDPOINT", hub)
        .env("EASEL__STORAGE__DATA_DIR", data)
        .env("EASEL__DETECTION__HUB_REPO", "acme/detectors")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_known_detector_is_pulled_named_listed_and_used_by_detect() {
    let hub = serve();
    let data = tempfile::tempdir().unwrap();
    let out = easel(&hub, data.path(), &["models", "pull", "yolo11n"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("80 classes"),
        "{}",
        text(&out.stdout)
    );
    let models = data.path().join("detection-models");
    assert!(models.join("yolo11n.onnx").is_file());
    assert!(
        !models.join(".pull-yolo11n").exists(),
        "staging left behind"
    );
    // The export names no classes: the COCO names are installed beside it.
    let labels = std::fs::read_to_string(models.join("yolo11n.labels.txt")).unwrap();
    let labels: Vec<&str> = labels.lines().collect();
    assert_eq!(labels.len(), 80);
    assert_eq!(
        (labels[0], labels[2], labels[79]),
        ("person", "car", "toothbrush")
    );
    let provenance: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(models.join("yolo11n.pull.json")).unwrap())
            .unwrap();
    assert_eq!(provenance["repo"], "acme/detectors");
    assert_eq!(provenance["commit"], "feedbeef");

    let list = easel(&hub, data.path(), &["models", "list"]);
    let shown = text(&list.stdout);
    let line = shown
        .lines()
        .find(|l| {
            l.trim_start().starts_with("yolo11n")
                && l.contains("yolo11n.onnx")
                && l.contains("(default)")
        })
        .unwrap_or_else(|| panic!("pulled model not listed as the default: {shown}"));
    assert!(line.contains("KiB"), "{line}");

    // `detect` without a model uses it (the only one), and names its classes.
    let photo = fixtures().join("astronaut.png");
    let output = data.path().join("out");
    let pipeline = r#"{"ops":[{"op":"detect","minConfidence":0.01}],"output":{"format":"png"}}"#;
    let run = easel(
        &hub,
        data.path(),
        &[
            "process",
            photo.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
            "--pipeline",
            pipeline,
        ],
    );
    assert!(run.status.success(), "{}", text(&run.stderr));
    let sidecar: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(output.join("astronaut.png.json")).unwrap())
            .unwrap();
    let found = sidecar["detections"].as_array().unwrap();
    assert!(!found.is_empty(), "{sidecar}");
    let coco: Vec<&str> = labels.clone();
    for d in found {
        assert!(coco.contains(&d["label"].as_str().unwrap()), "{d}");
    }
}

#[test]
fn any_repository_file_can_be_pulled_under_a_name_and_keeps_its_own_names() {
    let hub = serve();
    let data = tempfile::tempdir().unwrap();
    let models = data.path().join("detection-models");
    // A stale labels file from an earlier model under this name must not survive.
    std::fs::create_dir_all(&models).unwrap();
    std::fs::write(models.join("street.labels.txt"), "old\n").unwrap();
    let out = easel(
        &hub,
        data.path(),
        &[
            "models",
            "pull",
            "street",
            "--repo",
            "acme/detectors",
            "--file",
            "named/coco.onnx",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(models.join("street.onnx").is_file());
    assert!(!models.join("street.labels.txt").exists());
}

#[test]
fn a_file_that_is_not_a_detector_or_not_there_installs_nothing() {
    let hub = serve();
    let data = tempfile::tempdir().unwrap();
    let models = data.path().join("detection-models");
    let out = easel(
        &hub,
        data.path(),
        &["models", "pull", "faces", "--file", "broken.onnx"],
    );
    assert!(!out.status.success());
    let error = text(&out.stderr);
    assert!(
        error.contains("not-a-detector") && error.contains("nothing was installed"),
        "{error}"
    );
    assert!(!models.join("faces.onnx").exists());
    assert!(!models.join(".pull-faces").exists());

    let out = easel(
        &hub,
        data.path(),
        &["models", "pull", "faces", "--file", "missing.onnx"],
    );
    assert!(!out.status.success());
    let error = text(&out.stderr);
    assert!(
        error.contains("acme/detectors has no missing.onnx"),
        "{error}"
    );
    assert!(!models.join(".pull-faces").exists());

    let out = easel(
        &hub,
        data.path(),
        &[
            "models",
            "pull",
            "faces",
            "--repo",
            "acme/nothing",
            "--file",
            "x.onnx",
        ],
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("404"), "{}", text(&out.stderr));
    assert!(!models.join("faces.onnx").exists());
}
