//! `easel models pull` against a stand-in for the Hugging Face hub (the real one cannot
//! be reached from these machines) that speaks its API: the repository listing with
//! LFS sizes and hashes (`/api/models/{repo}/revision/{rev}?blobs=true`) and file
//! downloads with byte ranges (`/{repo}/resolve/{rev}/{path}`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use easel_diffusion::hub::{PullError, PullProgress, PullRequest, Wanted};
use easel_diffusion::tiny::{write_tiny_model, write_tiny_xl_model};
use easel_diffusion::{Family, ModelFiles, PipelineKind};
use sha2::{Digest, Sha256};

#[derive(Clone)]
struct Hub {
    /// The one repository served, `owner/name`.
    repo: String,
    root: PathBuf,
    /// `Range` headers received, per path.
    ranges: Arc<Mutex<Vec<(String, String)>>>,
    /// A path served with one byte flipped.
    corrupt: Option<String>,
}

fn files_under(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(root, &path, out);
        } else {
            out.push(
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
}

async fn listing(
    State(hub): State<Hub>,
    UrlPath((owner, name, _rev)): UrlPath<(String, String, String)>,
) -> Response {
    if format!("{owner}/{name}") != hub.repo {
        return (StatusCode::NOT_FOUND, "Repository not found").into_response();
    }
    let mut files = Vec::new();
    files_under(&hub.root, &hub.root, &mut files);
    let siblings: Vec<serde_json::Value> = files
        .iter()
        .map(|f| {
            let bytes = std::fs::read(hub.root.join(f)).unwrap();
            if f.ends_with(".safetensors") {
                serde_json::json!({
                    "rfilename": f,
                    "size": bytes.len(),
                    "lfs": {"sha256": hex::encode(Sha256::digest(&bytes)), "size": bytes.len()},
                })
            } else {
                serde_json::json!({"rfilename": f, "size": bytes.len()})
            }
        })
        .collect();
    axum::Json(serde_json::json!({"id": hub.repo, "sha": "0123abcd", "siblings": siblings}))
        .into_response()
}

async fn resolve(
    State(hub): State<Hub>,
    UrlPath((_owner, _name, _rev, path)): UrlPath<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let Ok(mut bytes) = std::fs::read(hub.root.join(&path)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if hub.corrupt.as_deref() == Some(path.as_str()) {
        let last = bytes.len() - 1;
        bytes[last] ^= 0xFF;
    }
    if let Some(range) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        hub.ranges
            .lock()
            .unwrap()
            .push((path.clone(), range.to_owned()));
        let start: usize = range
            .trim_start_matches("bytes=")
            .trim_end_matches('-')
            .parse()
            .unwrap();
        if start >= bytes.len() {
            return StatusCode::RANGE_NOT_SATISFIABLE.into_response();
        }
        let total = bytes.len();
        return (
            StatusCode::PARTIAL_CONTENT,
            [(
                header::CONTENT_RANGE,
                format!("bytes {start}-{}/{total}", total - 1),
            )],
            bytes[start..].to_vec(),
        )
            .into_response();
    }
    bytes.into_response()
}

async fn serve(hub: Hub) -> String {
    let app = Router::new()
        .route("/api/models/{owner}/{name}/revision/{rev}", get(listing))
        .route("/{owner}/{name}/resolve/{rev}/{*path}", get(resolve))
        .with_state(hub);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

struct Quiet;

impl PullProgress for Quiet {
    fn start(&self, _: &str, _: u64, _: Option<u64>) {}
    fn advance(&self, _: &str, _: u64) {}
    fn finish(&self, _: &str) {}
}

/// A tiny model as the hub would hold it, with an fp16-named UNet variant beside the
/// full one.
fn hub_repo() -> (tempfile::TempDir, Hub) {
    hub_repo_of(write_tiny_model, "acme/tiny-sd")
}

fn hub_repo_of(
    write: fn(&Path, PipelineKind, &str) -> std::io::Result<()>,
    repo: &str,
) -> (tempfile::TempDir, Hub) {
    let root = tempfile::tempdir().unwrap();
    write(
        root.path(),
        PipelineKind::TextToImage,
        "EulerAncestralDiscreteScheduler",
    )
    .unwrap();
    std::fs::copy(
        root.path().join("unet/diffusion_pytorch_model.safetensors"),
        root.path()
            .join("unet/diffusion_pytorch_model.fp16.safetensors"),
    )
    .unwrap();
    let hub = Hub {
        repo: repo.to_owned(),
        root: root.path().to_owned(),
        ranges: Arc::default(),
        corrupt: None,
    };
    (root, hub)
}

fn request(endpoint: String, repo: &str, dest: &Path) -> PullRequest {
    PullRequest {
        endpoint,
        repo: repo.to_owned(),
        revision: "main".to_owned(),
        dest: dest.to_owned(),
        wanted: Wanted::Diffusers { prefer_fp16: true },
        token: None,
    }
}

#[tokio::test]
async fn pulls_a_model_that_then_loads() {
    let (_root, hub) = hub_repo();
    let endpoint = serve(hub).await;
    let dest = tempfile::tempdir().unwrap();
    let files = request(endpoint.clone(), "acme/tiny-sd", dest.path())
        .pull(&Quiet)
        .await
        .unwrap();
    assert!(
        files
            .iter()
            .any(|f| f.path == "unet/diffusion_pytorch_model.fp16.safetensors")
    );
    assert!(
        !dest
            .path()
            .join("unet/diffusion_pytorch_model.safetensors")
            .exists()
    );
    let model = ModelFiles::open(dest.path(), "tiny").unwrap();
    easel_diffusion::Pipeline::load(&model, &candle_core::Device::Cpu).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dest.path().join(".easel-model.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["repo"], "acme/tiny-sd");
    assert_eq!(manifest["commit"], "0123abcd");

    // Full precision when asked.
    let full = tempfile::tempdir().unwrap();
    let mut asked = request(endpoint, "acme/tiny-sd", full.path());
    asked.wanted = Wanted::Diffusers { prefer_fp16: false };
    asked.pull(&Quiet).await.unwrap();
    assert!(
        full.path()
            .join("unet/diffusion_pytorch_model.safetensors")
            .is_file()
    );
}

#[tokio::test]
async fn an_interrupted_download_resumes_with_a_range_request() {
    let (root, hub) = hub_repo();
    let ranges = hub.ranges.clone();
    let endpoint = serve(hub).await;
    let dest = tempfile::tempdir().unwrap();
    let name = "unet/diffusion_pytorch_model.fp16.safetensors";
    let whole = std::fs::read(root.path().join(name)).unwrap();
    std::fs::create_dir_all(dest.path().join("unet")).unwrap();
    let half = whole.len() / 2;
    std::fs::write(dest.path().join(format!("{name}.part")), &whole[..half]).unwrap();

    request(endpoint, "acme/tiny-sd", dest.path())
        .pull(&Quiet)
        .await
        .unwrap();
    assert_eq!(std::fs::read(dest.path().join(name)).unwrap(), whole);
    assert!(!dest.path().join(format!("{name}.part")).exists());
    assert_eq!(
        ranges.lock().unwrap().as_slice(),
        &[(name.to_owned(), format!("bytes={half}-"))]
    );
}

#[tokio::test]
async fn a_corrupt_download_is_refused_and_not_kept() {
    let (_root, mut hub) = hub_repo();
    let name = "vae/diffusion_pytorch_model.safetensors";
    hub.corrupt = Some(name.to_owned());
    let endpoint = serve(hub).await;
    let dest = tempfile::tempdir().unwrap();
    let error = request(endpoint, "acme/tiny-sd", dest.path())
        .pull(&Quiet)
        .await
        .unwrap_err();
    assert!(
        matches!(error, PullError::Corrupt { ref file, .. } if file == name),
        "{error}"
    );
    assert!(error.to_string().contains("sha256"), "{error}");
    assert!(!dest.path().join(name).exists());
    assert!(!dest.path().join(format!("{name}.part")).exists());
}

#[tokio::test]
async fn unknown_repositories_and_non_models_say_what_is_wrong() {
    let (root, hub) = hub_repo();
    let endpoint = serve(hub).await;
    let dest = tempfile::tempdir().unwrap();
    let error = request(endpoint.clone(), "acme/nothing", dest.path())
        .pull(&Quiet)
        .await
        .unwrap_err();
    assert!(
        matches!(error, PullError::Http { status: 404, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("no such repository"), "{error}");

    std::fs::remove_file(root.path().join("vae/diffusion_pytorch_model.safetensors")).unwrap();
    let error = request(endpoint, "acme/tiny-sd", dest.path())
        .pull(&Quiet)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("lacks vae/diffusion_pytorch_model.safetensors"),
        "{error}"
    );
}

#[tokio::test]
async fn pulls_an_sdxl_model_with_its_second_text_encoder_and_tokenizer() {
    let (root, hub) = hub_repo_of(write_tiny_xl_model, "acme/tiny-sdxl");
    // A file no model needs is left on the hub.
    std::fs::write(root.path().join("README.md"), "# tiny").unwrap();
    let endpoint = serve(hub).await;
    let dest = tempfile::tempdir().unwrap();
    let files = request(endpoint, "acme/tiny-sdxl", dest.path())
        .pull(&Quiet)
        .await
        .unwrap();
    let mut paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        [
            "model_index.json",
            "scheduler/scheduler_config.json",
            "text_encoder/config.json",
            "text_encoder/model.safetensors",
            "text_encoder_2/config.json",
            "text_encoder_2/model.safetensors",
            "tokenizer/merges.txt",
            "tokenizer/tokenizer_config.json",
            "tokenizer/vocab.json",
            "tokenizer_2/merges.txt",
            "tokenizer_2/tokenizer_config.json",
            "tokenizer_2/vocab.json",
            "unet/config.json",
            "unet/diffusion_pytorch_model.fp16.safetensors",
            "vae/config.json",
            "vae/diffusion_pytorch_model.safetensors",
        ]
    );
    assert!(!dest.path().join("README.md").exists());
    let model = ModelFiles::open(dest.path(), "tiny-sdxl").unwrap();
    assert_eq!(model.family, Family::StableDiffusionXl);
    let pipeline = easel_diffusion::Pipeline::load(&model, &candle_core::Device::Cpu).unwrap();
    assert_eq!(pipeline.family(), Family::StableDiffusionXl);
}
