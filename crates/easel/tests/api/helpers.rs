//! `TestApp`: starts Easel in-process exactly as `easel serve` does, and offers one helper
//! per endpoint.

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use easel::app::{Application, Stores, worker_settings};
use easel::config::Config;
use easel_store::{PresignKey, Presigner};
use futures::StreamExt;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::postgres::TestDatabase;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A test's data directory and, when the suite runs on PostgreSQL
/// (`EASEL_TEST_BACKEND=postgres`), its own database; both go away with the last
/// process using them.
pub struct TestData {
    dir: TempDir,
    database: Option<TestDatabase>,
}

impl TestData {
    fn new() -> TestData {
        let on_postgres = std::env::var("EASEL_TEST_BACKEND").is_ok_and(|b| b == "postgres");
        TestData {
            dir: tempfile::tempdir().unwrap(),
            database: on_postgres.then(TestDatabase::create),
        }
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The metadata database URL, when it is not the data directory's SQLite file.
    pub fn database_url(&self) -> Option<String> {
        self.database.as_ref().map(TestDatabase::url)
    }
}

/// A running Easel. `client` sends user A's access token with every request.
pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub dir: Arc<TestData>,
    pub config: Config,
    /// User A, signed in (the owner of what the helpers create).
    pub user: Session,
    /// The generated password of the first-start `admin` account.
    pub admin_password: String,
    token: CancellationToken,
    server: JoinHandle<anyhow::Result<()>>,
}

/// A signed-in user.
#[derive(Clone)]
pub struct Session {
    pub user_id: String,
    pub username: String,
    pub access_token: String,
    pub id_token: String,
    pub refresh_token: String,
    /// A client sending `access_token` by default.
    pub client: Client,
}

/// The password every test user gets.
pub const PASSWORD: &str = "Corr3ct-horse";

/// The issuer every test server uses, so tokens survive restarts and work across
/// processes.
pub const ISSUER: &str = "http://easel.test";

/// A client that sends `Authorization: Bearer <token>`.
pub fn bearer_client(token: &str) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    Client::builder().default_headers(headers).build().unwrap()
}

/// Settings every test wants: fast polling and retries.
fn test_config(data: &TestData, in_process_workers: bool) -> Config {
    let mut config = Config::from_toml("").unwrap();
    config.server.bind = "127.0.0.1:0".parse().unwrap();
    config.storage.data_dir = data.path().to_path_buf();
    config.storage.database_url = data.database_url();
    config.workers.in_process = in_process_workers;
    config.workers.poll_interval_ms = 50;
    config.workers.shutdown_grace_secs = 5;
    config.queue.backoff_base_ms = 10;
    config.queue.backoff_max_ms = 50;
    config.auth.issuer = Some(ISSUER.to_owned());
    // Tests submit bursts of jobs; the rate-limit tests install their own plans.
    let default_plan = config.plans.get_mut("default").unwrap();
    default_plan.rate_per_sec = 1_000.0;
    default_plan.burst = 1_000;
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
        let data = TestData::new();
        let mut config = test_config(&data, in_process_workers);
        adjust(&mut config);
        Self::start_shared(Arc::new(data), config, None).await
    }

    async fn start_shared(
        dir: Arc<TestData>,
        config: Config,
        user: Option<(Session, String)>,
    ) -> TestApp {
        // The test's own HTTP clients need the TLS provider too.
        easel_services::identity::install_tls_provider();
        let app = Application::build(config.clone()).await.unwrap();
        let base = app.base_url().to_owned();
        let token = app.shutdown_token();
        let bootstrap = app.bootstrap_admin().map(|(_, password)| password.clone());
        let server = tokio::spawn(app.run_until_stopped());
        let (user, admin_password) = match user {
            Some(known) => known,
            None => {
                let user = sign_up_and_in(&base, "user-a@example.test").await;
                (user, bootstrap.expect("a fresh database creates the admin"))
            }
        };
        TestApp {
            base,
            client: user.client.clone(),
            dir,
            config,
            user,
            admin_password,
            token,
            server,
        }
    }

    /// A second Easel process on the same data directory and database (with `adjust`
    /// applied to its configuration), acting as the same user A.
    pub async fn sibling(&self, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = self.config.clone();
        adjust(&mut config);
        let known = (self.user.clone(), self.admin_password.clone());
        Self::start_shared(self.dir.clone(), config, Some(known)).await
    }

    /// Signs up and in a new user.
    pub async fn new_user(&self, email: &str) -> Session {
        sign_up_and_in(&self.base, email).await
    }

    /// The first-start admin, signed in.
    pub async fn admin(&self) -> Session {
        sign_in(&self.base, "admin", &self.admin_password).await
    }

    /// A client without credentials.
    pub fn anonymous(&self) -> Client {
        Client::new()
    }

    /// Stops the server (gracefully) and starts a new one on the same data directory.
    pub async fn restart(self, in_process_workers: bool) -> TestApp {
        let TestApp {
            dir,
            mut config,
            token,
            server,
            user,
            admin_password,
            ..
        } = self;
        token.cancel();
        server.await.unwrap().unwrap();
        config.workers.in_process = in_process_workers;
        Self::start_shared(dir, config, Some((user, admin_password))).await
    }

    /// Runs every claimable job in this task, as a separate worker process would.
    pub async fn run_pending_jobs(&self) -> usize {
        let stores = Stores::open(&self.config).await.unwrap();
        let deps = stores.worker_deps(&self.config).await.unwrap();
        easel_worker::drain(&deps, &worker_settings(&self.config)).await
    }

    /// The value of the deployment's secret whose name starts with `prefix` (the
    /// oldest), read from the database as another process would.
    pub async fn secret(&self, prefix: &str) -> Vec<u8> {
        let stores = Stores::open(&self.config).await.unwrap();
        let found = stores.metadata.secrets_with_prefix(prefix).await.unwrap();
        found
            .into_iter()
            .next()
            .expect("the server created it")
            .value
    }

    /// The presigner the server uses (the same key, from the database), for crafting
    /// URLs in tests.
    pub async fn presigner(&self) -> Presigner {
        let key = PresignKey {
            id: "local".into(),
            secret: self.secret("presign/local").await,
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

/// `POST /v1/auth/sign-up` (solving the proof-of-work when the server asks for one, as
/// the web UI does) then sign-in, expecting success.
pub async fn sign_up_and_in(base: &str, email: &str) -> Session {
    let challenge: Value = Client::new()
        .get(format!("{base}/v1/auth/challenge"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut body = json!({ "email": email, "password": PASSWORD });
    if challenge["required"] == true {
        body["altcha"] = json!(solve(&challenge));
    }
    let response = Client::new()
        .post(format!("{base}/v1/auth/sign-up"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "{}",
        response.text().await.unwrap()
    );
    sign_in(base, email, PASSWORD).await
}

/// `POST /v1/auth/sign-in`, expecting success.
pub async fn sign_in(base: &str, username: &str, password: &str) -> Session {
    let response = Client::new()
        .post(format!("{base}/v1/auth/sign-in"))
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await.unwrap()
    );
    let body: Value = response.json().await.unwrap();
    session_from(&body, username)
}

/// A session from a token response.
pub fn session_from(body: &Value, username: &str) -> Session {
    let access = body["accessToken"].as_str().unwrap().to_owned();
    let claims = decode_claims(&access);
    Session {
        user_id: claims["sub"].as_str().unwrap().to_owned(),
        username: username.to_owned(),
        id_token: body["idToken"].as_str().unwrap().to_owned(),
        refresh_token: body["refreshToken"].as_str().unwrap().to_owned(),
        client: bearer_client(&access),
        access_token: access,
    }
}

/// The payload of a JWT, unverified.
pub fn decode_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
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

/// A real SMTP server (aiosmtpd) writing what it receives into a maildir; stopped on drop.
pub struct SmtpServer {
    child: std::process::Child,
    maildir: tempfile::TempDir,
}

impl SmtpServer {
    pub fn start(port: u16) -> SmtpServer {
        let python = std::env::var("EASEL_TEST_PYTHON").unwrap_or_else(|_| {
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../target/detect-fixtures/python"
            )
            .to_owned()
        });
        let maildir = tempfile::tempdir().unwrap();
        let child = std::process::Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            // A maildir aiosmtpd creates (it does not fill in an existing empty one).
            .arg(maildir.path().join("mail"))
            .spawn()
            .unwrap_or_else(|e| panic!("{python} (run scripts/detect-fixtures): {e}"));
        // Owned from here on, so it is stopped however this ends.
        let server = SmtpServer { child, maildir };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("aiosmtpd did not start on port {port}");
    }

    /// The raw messages received so far.
    pub fn messages(&self) -> Vec<String> {
        let new = self.maildir.path().join("mail/new");
        std::fs::read_dir(new)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| std::fs::read_to_string(e.path()).unwrap())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on (yet).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `smtp` holds at least `count` messages; returns them all.
pub async fn wait_for_mail(smtp: &SmtpServer, count: usize) -> Vec<String> {
    for _ in 0..400 {
        let messages = smtp.messages();
        if messages.len() >= count {
            return messages;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{} mails arrived, not {count}", smtp.messages().len());
}

/// Waits for a message to `to` whose subject contains `subject`; returns it.
pub async fn wait_for_mail_to(smtp: &SmtpServer, to: &str, subject: &str) -> String {
    for _ in 0..400 {
        if let Some(mail) = smtp.messages().into_iter().find(|m| {
            m.contains(&format!("To: {to}"))
                && m.lines()
                    .any(|l| l.starts_with("Subject:") && l.contains(subject))
        }) {
            return mail;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "no mail to {to} about {subject:?}; got {:#?}",
        smtp.messages()
    );
}

/// The six-digit code in a mail.
pub fn code_in(mail: &str) -> String {
    let at = mail.find("Your code: ").expect("a code") + "Your code: ".len();
    mail[at..at + 6].to_owned()
}

/// Solves a sign-up challenge the way a client must, trying every number from 0 up;
/// returns the `altcha` payload (base64 JSON).
pub fn solve(challenge: &Value) -> String {
    use base64::Engine as _;
    use sha2::{Digest, Sha256};
    let salt = challenge["salt"].as_str().unwrap();
    let target = challenge["challenge"].as_str().unwrap();
    let max = challenge["maxnumber"].as_u64().unwrap();
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let number = (0..=max)
        .find(|n| hex(&Sha256::digest(format!("{salt}{n}"))) == target)
        .expect("a number up to maxnumber solves it");
    let payload = json!({
        "algorithm": challenge["algorithm"],
        "challenge": target,
        "number": number,
        "salt": salt,
        "signature": challenge["signature"],
    });
    base64::engine::general_purpose::STANDARD.encode(payload.to_string())
}

/// A Bedrock-shaped inpainting request the classic engine runs in a moment: a 64×48
/// image with a square in it to fill from `text`.
pub fn inpainting(text: &str) -> Value {
    use base64::Engine as _;
    let mask = image::RgbaImage::from_fn(64, 48, |x, y| {
        let v = if (20..40).contains(&x) && (10..30).contains(&y) {
            0
        } else {
            255
        };
        image::Rgba([v, v, v, 255])
    });
    let mut mask_png = std::io::Cursor::new(Vec::new());
    mask.write_to(&mut mask_png, image::ImageFormat::Png)
        .unwrap();
    let encode = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    json!({
        "taskType": "INPAINTING",
        "inPaintingParams": {
            "image": encode(&png(64, 48)),
            "maskImage": encode(&mask_png.into_inner()),
            "text": text,
        },
        "imageGenerationConfig": { "numberOfImages": 1 },
    })
}
