//! Easel on PostgreSQL and an S3-compatible store (s3s-fs, which checks SigV4 signatures
//! and expiry as S3 does), started the way an operator starts it: an API process and a
//! worker process, each in an empty working directory of its own, sharing no disk. The
//! client uploads straight to the store and downloads from it; upload triggers fire once
//! whether the client, the store's event notification or the reconciler reports the
//! upload. Needs PostgreSQL (`EASEL_TEST_POSTGRES`) and the store (`EASEL_TEST_S3`;
//! `scripts/s3` starts one).

#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/processes.rs"]
mod processes;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use postgres::TestDatabase;
use processes::Easel;

const EVENTS_TOKEN: &str = "events-test-token";

/// One deployment: a database, a bucket prefix, a config file with an upload trigger.
struct Deployment {
    database: TestDatabase,
    blobs_url: String,
    config: tempfile::TempDir,
}

fn s3_endpoint() -> String {
    std::env::var("EASEL_TEST_S3").unwrap_or_else(|_| "http://127.0.0.1:9310".to_owned())
}

impl Deployment {
    fn new() -> Deployment {
        Deployment::on(&s3_endpoint())
    }

    /// A deployment whose objects are on the S3 server at `endpoint`.
    fn on(endpoint: &str) -> Deployment {
        easel_services::identity::install_tls_provider();
        let config = tempfile::tempdir().unwrap();
        std::fs::write(
            config.path().join("easel.toml"),
            "[[triggers]]\nprefix = \"uploads/photos/\"\npreset = \"thumbnail\"\n",
        )
        .unwrap();
        Deployment {
            database: TestDatabase::create(),
            blobs_url: format!(
                "s3://easel-test?endpoint={endpoint}&region=us-east-1&path_style=true&prefix=t-{}",
                uuid::Uuid::new_v4().simple()
            ),
            config,
        }
    }

    /// An Easel command running in `workdir` (its data directory too).
    fn command(&self, workdir: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_easel"));
        command
            .args(args)
            .current_dir(workdir)
            .env("EASEL_CONFIG", self.config.path().join("easel.toml"))
            .env("EASEL__STORAGE__DATABASE_URL", self.database.url())
            .env("EASEL__STORAGE__DATA_DIR", workdir)
            .env("EASEL__STORAGE__BLOBS_URL", &self.blobs_url)
            .env("EASEL__STORAGE__S3_ACCESS_KEY_ID", "easel-test")
            .env("EASEL__STORAGE__S3_SECRET_ACCESS_KEY", "easel-test-secret")
            .env("EASEL__STORAGE__EVENTS_TOKEN", EVENTS_TOKEN)
            .env("EASEL__STORAGE__RECONCILE_INTERVAL_SECS", "1")
            .env("EASEL__SERVER__BIND", "127.0.0.1:0")
            .env("EASEL__AUTH__ISSUER", "http://easel.test")
            .env("EASEL__WORKERS__POLL_INTERVAL_MS", "200")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        command
    }

    fn api(&self, workdir: &Path) -> Easel {
        processes::serve(self.command(workdir, &["serve", "--no-workers"]))
    }

    fn worker(&self, workdir: &Path) -> Easel {
        processes::start(self.command(workdir, &["worker"]))
    }
}

/// Sends a request and reads its JSON answer.
trait SendJson {
    fn send_json(self) -> impl std::future::Future<Output = Value>;
}

impl SendJson for reqwest::RequestBuilder {
    async fn send_json(self) -> Value {
        self.send().await.unwrap().json().await.unwrap()
    }
}

/// A signed-in client and the API's base URL.
async fn user(api: &str) -> Client {
    let anonymous = Client::new();
    let credentials = json!({ "email": "s3@example.test", "password": "Corr3ct-horse" });
    let response = anonymous
        .post(format!("{api}/v1/auth/sign-up"))
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let tokens: Value = anonymous
        .post(format!("{api}/v1/auth/sign-in"))
        .json(&credentials)
        .send_json()
        .await;
    let token = tokens["accessToken"].as_str().unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    Client::builder().default_headers(headers).build().unwrap()
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let pixels = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 7) as u8, (y * 5) as u8, ((x + y) * 3) as u8])
    });
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(pixels)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// Presigns an upload through the API and PUTs `bytes` straight to the store with the
/// headers the answer names. Returns the presign answer.
async fn upload(client: &Client, api: &str, folder: Option<&str>, bytes: Vec<u8>) -> Value {
    let presigned: Value = client
        .post(format!("{api}/v1/uploads"))
        .json(&json!({
            "filename": "photo.png", "contentType": "image/png",
            "size": bytes.len(), "folder": folder,
        }))
        .send_json()
        .await;
    let url = presigned["url"]
        .as_str()
        .unwrap_or_else(|| panic!("presign failed: {presigned}"));
    assert!(
        !url.starts_with(api),
        "{url} is the store's own URL, not Easel's"
    );
    assert!(url.contains("X-Amz-Signature="), "{url} is SigV4-signed");
    let mut put = Client::new().put(url).body(bytes);
    for (name, value) in presigned["headers"].as_object().unwrap() {
        put = put.header(name.as_str(), value.as_str().unwrap());
    }
    let response = put.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "the store took the PUT");
    presigned
}

/// Waits for job `id` to reach a final state through the seed's status route.
async fn finished(client: &Client, api: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job: Value = client.get(format!("{api}/jobs/{id}")).send_json().await;
        if ["COMPLETED", "FAILED", "CANCELLED"].contains(&job["status"].as_str().unwrap()) {
            return job;
        }
        assert!(Instant::now() < deadline, "job {id} never finished: {job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().map_while(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_002_flow_with_no_shared_disk() {
    let deployment = Deployment::new();
    let (api_dir, worker_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let api_process = deployment.api(api_dir.path());
    let _worker = deployment.worker(worker_dir.path());
    let api = api_process.base.as_deref().unwrap();
    let client = user(api).await;

    // Seed 002: presign → PUT to the store → /process (no completion call: /process
    // takes the upload in first) → /jobs/{id} COMPLETED → download from the store.
    let presigned = upload(&client, api, None, png(320, 200)).await;
    let key = presigned["key"].as_str().unwrap();
    let accepted: Value = client
        .post(format!("{api}/process"))
        .json(&json!({ "imageUrls": [format!("s3://uploads/{key}")] }))
        .send_json()
        .await;
    let job = finished(&client, api, accepted["jobId"].as_str().unwrap()).await;
    assert_eq!(job["status"], "COMPLETED", "{job}");
    let output = &job["results"][0]["output"];
    let download = output["downloadUrl"].as_str().unwrap();
    assert!(download.starts_with(&s3_endpoint()), "{download}");
    let bytes = Client::new().get(download).send().await.unwrap();
    assert_eq!(bytes.status(), StatusCode::OK);
    let bytes = bytes.bytes().await.unwrap();
    let decoded = easel_image::probe(&bytes).unwrap();
    assert_eq!(
        (decoded.width, decoded.height),
        (
            output["width"].as_u64().unwrap() as u32,
            output["height"].as_u64().unwrap() as u32
        )
    );
    // The upload's metadata was recorded from the store's copy.
    let described: Value = client
        .get(format!("{api}/v1/objects/uploads/{key}"))
        .send_json()
        .await;
    assert_eq!(described["width"], 320, "{described}");
    // Neither process wrote an object to its own disk.
    for dir in [api_dir.path(), worker_dir.path()] {
        let objects: Vec<_> = files_under(dir)
            .into_iter()
            .filter(|p| p.to_string_lossy().contains("objects"))
            .collect();
        assert!(objects.is_empty(), "{objects:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triggers_fire_once_whoever_reports_the_upload() {
    let deployment = Deployment::new();
    let dir = tempfile::tempdir().unwrap();
    let api_process = deployment.api(dir.path());
    let api = api_process.base.as_deref().unwrap();
    let client = user(api).await;
    let location = easel_store::S3Location::parse(&deployment.blobs_url).unwrap();

    // One upload reported three ways at once: the client, two deliveries of the same
    // store event (stores deliver at least once).
    let presigned = upload(&client, api, Some("photos"), png(64, 48)).await;
    let key = presigned["key"].as_str().unwrap().to_owned();
    let store_key = format!(
        "{}/{key}",
        location.key_prefix(easel_core::Bucket::Uploads).unwrap()
    );
    let event = json!({
        "EventName": "s3:ObjectCreated:Put",
        "Key": format!("easel-test/{store_key}"),
        "Records": [{
            "eventName": "s3:ObjectCreated:Put",
            "s3": { "bucket": { "name": "easel-test" }, "object": { "key": store_key, "size": 1 } }
        }]
    });
    let deliver = || {
        Client::new()
            .post(format!("{api}/v1/storage/events"))
            .header("authorization", format!("Bearer {EVENTS_TOKEN}"))
            .json(&event)
            .send()
    };
    let complete = client
        .post(format!("{api}/v1/uploads/complete"))
        .json(&json!({ "bucket": "uploads", "key": key }))
        .send();
    let (completed, first, second) = tokio::join!(complete, deliver(), deliver());
    for response in [first.unwrap(), second.unwrap()] {
        assert_eq!(response.status(), StatusCode::OK);
    }
    let completed = completed.unwrap();
    let status = completed.status();
    let body: Value = completed.json().await.unwrap();
    // The client's call either took it in or found it being taken in.
    assert!(
        status == StatusCode::OK || body["error"]["code"] == "upload-in-progress",
        "{status} {body}"
    );

    // An upload nobody reports: the reconciler (every second here) takes it in.
    let quiet = upload(&client, api, Some("photos"), png(40, 40)).await;
    let quiet_key = quiet["key"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let response = client
            .get(format!("{api}/v1/objects/uploads/{quiet_key}"))
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the reconciler never took the upload in"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Reported again afterwards: the same answer, no new job.
    let again: Value = client
        .post(format!("{api}/v1/uploads/complete"))
        .json(&json!({ "bucket": "uploads", "key": key }))
        .send_json()
        .await;
    assert_eq!(again["width"], 64, "{again}");
    assert_eq!(again["triggeredJobs"], json!([]));

    let jobs: Value = client
        .get(format!("{api}/v1/jobs?limit=100"))
        .send_json()
        .await;
    let jobs = jobs["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2, "one trigger job per upload: {jobs:?}");

    // The events route wants the shared token.
    let response = Client::new()
        .post(format!("{api}/v1/storage/events"))
        .header("authorization", "Bearer wrong")
        .json(&event)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // A bad object reported by the client is deleted from the store and refused.
    let fake = upload(&client, api, None, b"\x89PNG but not really".to_vec()).await;
    let refused = client
        .post(format!("{api}/v1/uploads/complete"))
        .json(&json!({ "bucket": "uploads", "key": fake["key"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(refused["error"]["code"], "content-mismatch");
    let store = easel_store::S3Store::open(
        &location,
        &easel_store::S3Credentials {
            access_key_id: Some("easel-test".into()),
            secret_access_key: Some("easel-test-secret".into()),
            session_token: None,
        },
    )
    .unwrap();
    let fake_object = easel_core::ObjectRef {
        bucket: easel_core::Bucket::Uploads,
        key: easel_core::ObjectKey::parse(fake["key"].as_str().unwrap()).unwrap(),
    };
    use easel_store::Blobs;
    assert!(matches!(
        store.blobs.stat(&fake_object).await,
        Err(easel_store::StoreError::NotFound)
    ));
}

/// `easel blobs copy` with the test store's credentials; its stderr.
fn blobs_copy(from: &str, to: &str, journal: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_easel"))
        .args(["blobs", "copy", "--from", from, "--to", to, "--journal"])
        .arg(journal)
        .env("EASEL__STORAGE__S3_ACCESS_KEY_ID", "easel-test")
        .env("EASEL__STORAGE__S3_SECRET_ACCESS_KEY", "easel-test-secret")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_copy_moves_every_object_verified_and_resumes() {
    use easel_store::Blobs;
    easel_services::identity::install_tls_provider();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("objects");
    let source = easel_store::ObjectBlobs::filesystem(&root).unwrap();
    let object = |bucket, key: &str| easel_core::ObjectRef {
        bucket,
        key: easel_core::ObjectKey::parse(key).unwrap(),
    };
    let mut objects = vec![
        (
            object(easel_core::Bucket::Uploads, "uploads/a.png"),
            png(30, 20),
        ),
        (
            object(easel_core::Bucket::Uploads, "uploads/2026/b.png"),
            png(5, 5),
        ),
        (
            object(easel_core::Bucket::Outputs, "outputs/job/c.png"),
            png(9, 9),
        ),
    ];
    for (at, bytes) in &objects {
        source
            .put(at, bytes.clone().into(), "image/png")
            .await
            .unwrap();
    }
    let to = format!(
        "s3://easel-test?endpoint={}&region=us-east-1&path_style=true&prefix=t-{}",
        s3_endpoint(),
        uuid::Uuid::new_v4().simple()
    );
    let from = format!("file://{}", root.display());
    let journal = dir.path().join("copy.journal");
    let said = blobs_copy(&from, &to, &journal);
    assert!(said.contains("copied 3 objects"), "{said}");
    let destination = easel_store::S3Store::open(
        &easel_store::S3Location::parse(&to).unwrap(),
        &easel_store::S3Credentials {
            access_key_id: Some("easel-test".into()),
            secret_access_key: Some("easel-test-secret".into()),
            session_token: None,
        },
    )
    .unwrap();
    for (at, bytes) in &objects {
        assert_eq!(
            destination.blobs.get(at).await.unwrap().as_ref(),
            bytes.as_slice()
        );
    }
    assert_eq!(
        std::fs::read_to_string(&journal).unwrap().lines().count(),
        3
    );

    // Run again after one more object arrived: only that one is copied.
    let late = (
        object(easel_core::Bucket::Uploads, "uploads/late.png"),
        png(7, 3),
    );
    source
        .put(&late.0, late.1.clone().into(), "image/png")
        .await
        .unwrap();
    objects.push(late);
    let said = blobs_copy(&from, &to, &journal);
    assert!(said.contains("copied 1 objects"), "{said}");
    assert!(said.contains("skipped 3"), "{said}");
    // A journaled object that vanished from the destination is copied again.
    destination.blobs.delete(&objects[0].0).await.unwrap();
    let said = blobs_copy(&from, &to, &journal);
    assert!(said.contains("copied 1 objects"), "{said}");
    assert!(destination.blobs.get(&objects[0].0).await.is_ok());
}

/// An s3s-fs of the test's own (on PATH: `scripts/s3` installs it), on a free port, that
/// the test can stop and start again over the same directory.
struct OwnStore {
    root: tempfile::TempDir,
    port: u16,
    process: Option<std::process::Child>,
}

impl OwnStore {
    fn start() -> OwnStore {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("easel-test")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut store = OwnStore {
            root,
            port,
            process: None,
        };
        store.resume();
        store
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn resume(&mut self) {
        let child = Command::new("s3s-fs")
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--access-key",
                "easel-test",
                "--secret-key",
                "easel-test-secret",
            ])
            .arg(self.root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs on PATH (scripts/s3 installs it)");
        self.process = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnStore {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_is_a_503_with_retry_after_and_loses_nothing() {
    let mut store = OwnStore::start();
    let deployment = Deployment::on(&store.endpoint());
    let dir = tempfile::tempdir().unwrap();
    let api_process = deployment.api(dir.path());
    let api = api_process.base.as_deref().unwrap();
    let client = user(api).await;
    let before = upload(&client, api, None, png(20, 20)).await;
    let complete = |key: Value| {
        client
            .post(format!("{api}/v1/uploads/complete"))
            .json(&json!({ "bucket": "uploads", "key": key }))
            .send()
    };
    assert_eq!(
        complete(before["key"].clone()).await.unwrap().status(),
        StatusCode::OK
    );

    // The store goes away. Presigning is local work and goes on; taking an upload in
    // needs the store: a prompt 503 with Retry-After, not a hang and not a 500.
    store.stop();
    let presigned: Value = client
        .post(format!("{api}/v1/uploads"))
        .json(&json!({ "filename": "later.png", "contentType": "image/png" }))
        .send_json()
        .await;
    let key = presigned["key"].clone();
    let started = Instant::now();
    let response = complete(key.clone()).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "store-unavailable", "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    // What was recorded before stays readable.
    let described = client
        .get(format!(
            "{api}/v1/objects/uploads/{}",
            before["key"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(described.status(), StatusCode::OK);

    // Back: the same upload URL works and the upload is taken in.
    store.resume();
    let mut put = Client::new()
        .put(presigned["url"].as_str().unwrap())
        .body(png(12, 8));
    for (name, value) in presigned["headers"].as_object().unwrap() {
        put = put.header(name.as_str(), value.as_str().unwrap());
    }
    assert_eq!(put.send().await.unwrap().status(), StatusCode::OK);
    let taken: Value = complete(key).await.unwrap().json().await.unwrap();
    assert_eq!(
        (taken["width"].clone(), taken["height"].clone()),
        (json!(12), json!(8)),
        "{taken}"
    );
}
