//! `TestApp`: starts Easel in-process exactly as `easel serve` does, and offers one helper
//! per endpoint.

use std::io::Cursor;
use std::path::Path;
use std::time::Duration;

use easel::app::{Application, Stores, worker_settings};
use easel::config::Config;
use easel_store::{PresignKey, Presigner};
use futures::StreamExt;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running Easel.
pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub dir: TempDir,
    pub config: Config,
    token: CancellationToken,
    server: JoinHandle<anyhow::Result<()>>,
}

/// Settings every test wants: fast polling and retries.
fn test_config(dir: &Path, in_process_workers: bool) -> Config {
    let mut config = Config::from_toml("").unwrap();
    config.server.bind = "127.0.0.1:0".parse().unwrap();
    config.storage.data_dir = dir.to_path_buf();
    config.workers.in_process = in_process_workers;
    config.workers.poll_interval_ms = 50;
    config.workers.shutdown_grace_secs = 5;
    config.queue.backoff_base_ms = 10;
    config.queue.backoff_max_ms = 50;
    config
}

impl TestApp {
    /// Easel with in-process workers.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(true, |_| {}).await
    }

    /// Easel without workers: jobs run only when the test calls [`Self::run_pending_jobs`].
    pub async fn spawn_without_workers() -> TestApp {
        Self::spawn_with(false, |_| {}).await
    }

    /// Easel with a configuration the test adjusts.
    pub async fn spawn_with(in_process_workers: bool, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path(), in_process_workers);
        adjust(&mut config);
        Self::start(dir, config).await
    }

    async fn start(dir: TempDir, config: Config) -> TestApp {
        let app = Application::build(config.clone()).await.unwrap();
        let base = app.base_url().to_owned();
        let token = app.shutdown_token();
        let server = tokio::spawn(app.run_until_stopped());
        TestApp {
            base,
            client: Client::new(),
            dir,
            config,
            token,
            server,
        }
    }

    /// Stops the server (gracefully) and starts a new one on the same data directory.
    pub async fn restart(self, in_process_workers: bool) -> TestApp {
        let TestApp {
            dir,
            mut config,
            token,
            server,
            ..
        } = self;
        token.cancel();
        server.await.unwrap().unwrap();
        config.workers.in_process = in_process_workers;
        Self::start(dir, config).await
    }

    /// Runs every claimable job in this task, as a separate worker process would.
    pub async fn run_pending_jobs(&self) -> usize {
        let stores = Stores::open(&self.config).await.unwrap();
        let deps = stores.worker_deps(&self.config);
        easel_worker::drain(&deps, &worker_settings(&self.config)).await
    }

    /// The presigner the server uses (same key file), for crafting URLs in tests.
    pub fn presigner(&self) -> Presigner {
        let hex_key = std::fs::read_to_string(self.dir.path().join("presign.key")).unwrap();
        let key = PresignKey {
            id: "local".into(),
            secret: hex::decode(hex_key.trim()).unwrap(),
        };
        Presigner::new(vec![key], &self.base)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// `POST /v1/uploads`, expecting success.
    pub async fn presign(&self, filename: &str, content_type: &str) -> Value {
        let response = self
            .post_json(
                "/v1/uploads",
                &json!({ "filename": filename, "contentType": content_type }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// Presigns and PUTs `bytes`; returns the object key.
    pub async fn upload(&self, filename: &str, content_type: &str, bytes: Vec<u8>) -> String {
        let presigned = self.presign(filename, content_type).await;
        let response = self
            .client
            .put(presigned["url"].as_str().unwrap())
            .header("content-type", content_type)
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}",
            response.text().await.unwrap()
        );
        presigned["key"].as_str().unwrap().to_owned()
    }

    /// `POST /v1/jobs`, expecting 202; returns the job view.
    pub async fn create_job(&self, body: &Value) -> Value {
        let response = self.post_json("/v1/jobs", body).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        body
    }

    pub async fn job(&self, id: &str) -> Value {
        let response = self.get(&format!("/v1/jobs/{id}")).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// Follows the job's event stream until a terminal state; returns every event.
    pub async fn follow_events(&self, id: &str) -> Vec<Value> {
        let response = self.get(&format!("/v1/jobs/{id}/events")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let mut stream = response.bytes_stream();
        let mut buffer = String::new();
        let mut events = Vec::new();
        let read = async {
            while let Some(chunk) = stream.next().await {
                buffer.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
                while let Some(end) = buffer.find("\n\n") {
                    let frame: String = buffer.drain(..end + 2).collect();
                    if let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) {
                        events.push(serde_json::from_str::<Value>(data).unwrap());
                    }
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .expect("stream ends");
        events
    }

    /// Waits (through the event stream) until the job is terminal; returns its final view.
    pub async fn wait_for_job(&self, id: &str) -> Value {
        self.follow_events(id).await;
        self.job(id).await
    }

    /// A fresh PUT of `bytes` to a presigned URL.
    pub async fn put(&self, url: &str, content_type: &str, bytes: Vec<u8>) -> Response {
        self.client
            .put(url)
            .header("content-type", content_type)
            .body(bytes)
            .send()
            .await
            .unwrap()
    }
}

/// Asserts the one error shape and returns the code.
pub async fn error_code(response: Response, status: StatusCode) -> String {
    assert_eq!(response.status(), status);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    let error = &body["error"];
    assert_eq!(error["requestId"], request_id, "{body}");
    assert!(!error["message"].as_str().unwrap().is_empty(), "{body}");
    error["code"].as_str().unwrap().to_owned()
}

/// A PNG of the given size with a diagonal gradient.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([
            (x * 255 / width.max(1)) as u8,
            (y * 255 / height.max(1)) as u8,
            128,
        ])
    });
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A JPEG made from [`png`] by the image engine.
pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let pipeline: easel_image::Pipeline =
        serde_json::from_value(json!({ "output": { "format": "jpeg", "quality": 90 } })).unwrap();
    easel_image::process(
        &png(width, height),
        &pipeline,
        &easel_image::Limits::default(),
    )
    .unwrap()
    .bytes
}
