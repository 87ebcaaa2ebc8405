//! Many Easel processes on one PostgreSQL database, started the way an operator starts
//! them (`easel serve --no-workers`, `easel worker`): a job submitted through one API
//! process is visible, cancellable and streamable through another; and a chaos run —
//! two API processes, three workers, 1,000 jobs, workers killed with SIGKILL and the
//! database restarted after 12 s down — ends with every job completed, each output written once, 503
//! with `Retry-After` (never a 500) while the database is down and no failure after.
//! Needs PostgreSQL (`EASEL_TEST_POSTGRES`, default the local server) and, for the
//! restart, the right to run `pg_ctlcluster` (CI runs as root).

#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/processes.rs"]
mod processes;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use postgres::TestDatabase;
use processes::Easel;

/// The tests here restart the shared database server: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A deployment's shared settings: one database, one objects directory.
struct Deployment {
    database: TestDatabase,
    dir: tempfile::TempDir,
}

impl Deployment {
    fn new() -> Deployment {
        // The test's own HTTP clients need rustls's crypto provider.
        easel_services::identity::install_tls_provider();
        Deployment {
            database: TestDatabase::create(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_easel"));
        command
            .args(args)
            .env("EASEL__STORAGE__DATABASE_URL", self.database.url())
            .env("EASEL__STORAGE__DATA_DIR", self.dir.path())
            .env("EASEL__SERVER__BIND", "127.0.0.1:0")
            .env("EASEL__AUTH__ISSUER", "http://easel.test")
            .env("EASEL__PLANS__DEFAULT__RATE_PER_SEC", "100000")
            .env("EASEL__PLANS__DEFAULT__BURST", "100000")
            .env("EASEL__QUEUE__LEASE_SECS", "5")
            .env("EASEL__WORKERS__POLL_INTERVAL_MS", "200")
            .env("EASEL__WORKERS__SHUTDOWN_GRACE_SECS", "1")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        command
    }

    /// `easel serve --no-workers`, once it listens.
    fn api(&self) -> Easel {
        processes::serve(self.command(&["serve", "--no-workers"]))
    }

    /// `easel worker`.
    fn worker(&self) -> Easel {
        processes::start(self.command(&["worker"]))
    }
}

fn base(easel: &Easel) -> &str {
    easel.base.as_deref().unwrap()
}

/// Sends `request` and reads its JSON answer.
async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// Signs up and in through `api`; a client sending the access token.
async fn user(api: &str) -> Client {
    let anonymous = Client::new();
    let credentials = json!({ "email": "chaos@example.test", "password": "Corr3ct-horse" });
    let signed_up = anonymous
        .post(format!("{api}/v1/auth/sign-up"))
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_up.status(), StatusCode::CREATED);
    let tokens = json_of(
        anonymous
            .post(format!("{api}/v1/auth/sign-in"))
            .json(&json!({ "username": "chaos@example.test", "password": "Corr3ct-horse" })),
    )
    .await;
    let token = tokens["accessToken"].as_str().unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    Client::builder().default_headers(headers).build().unwrap()
}

/// A small PNG.
fn png() -> Vec<u8> {
    let image = image::RgbaImage::from_fn(48, 32, |x, y| {
        image::Rgba([(x * 5) as u8, (y * 7) as u8, 90, 255])
    });
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, image::ImageFormat::Png).unwrap();
    bytes.into_inner()
}

/// Uploads a PNG through `api`; its key.
async fn upload(client: &Client, api: &str) -> String {
    let presigned = json_of(
        client
            .post(format!("{api}/v1/uploads"))
            .json(&json!({ "filename": "chaos.png", "contentType": "image/png" })),
    )
    .await;
    let stored = client
        .put(presigned["url"].as_str().unwrap())
        .header("content-type", "image/png")
        .body(png())
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), StatusCode::OK);
    presigned["key"].as_str().unwrap().to_owned()
}

fn process_job(key: &str) -> Value {
    json!({ "sources": [{ "bucket": "uploads", "key": key }], "preset": "thumbnail" })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_is_visible_cancellable_and_streamable_through_another_api_process() {
    let _serial = SERIAL.lock().await;
    let deployment = Deployment::new();
    let a = deployment.api();
    let b = deployment.api();
    let (a, b) = (base(&a).to_owned(), base(&b).to_owned());
    let client = user(&a).await;
    // No worker yet: the job stays PENDING, and B can cancel it.
    let job = json_of(
        client
            .post(format!("{a}/v1/jobs"))
            .json(&json!({ "kind": "noop" })),
    )
    .await;
    let id = job["jobId"].as_str().unwrap();
    let seen = json_of(client.get(format!("{b}/v1/jobs/{id}"))).await;
    assert_eq!(seen["status"], "PENDING");
    let cancelled = client
        .delete(format!("{b}/v1/jobs/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), StatusCode::OK);
    let seen = json_of(client.get(format!("{a}/v1/jobs/{id}"))).await;
    assert_eq!(seen["status"], "CANCELLED");
    // Streamed through B while a worker process runs it.
    let key = upload(&client, &a).await;
    let job = json_of(client.post(format!("{a}/v1/jobs")).json(&process_job(&key))).await;
    let id = job["jobId"].as_str().unwrap().to_owned();
    let events = client.get(format!("{b}/v1/jobs/{id}/events")).send();
    let _worker = deployment.worker();
    let body = tokio::time::timeout(Duration::from_secs(60), async {
        events.await.unwrap().text().await.unwrap()
    })
    .await
    .expect("the stream ends with the job");
    let statuses: Vec<String> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| serde_json::from_str::<Value>(d.trim()).unwrap()["status"].to_string())
        .collect();
    assert_eq!(
        statuses.last().map(String::as_str),
        Some("\"COMPLETED\""),
        "{body}"
    );
}

/// Every answer a client got, by time.
#[derive(Default)]
struct Answers(Mutex<Vec<(Instant, u16, bool)>>);

impl Answers {
    fn record(&self, status: StatusCode, retry_after: bool) {
        let mut all = self.0.lock().unwrap();
        all.push((Instant::now(), status.as_u16(), retry_after));
    }
}

/// Submits one job, retrying while the answer is a 503 with `Retry-After`.
async fn submit(client: &Client, api: &str, body: &Value, answers: &Answers) -> String {
    loop {
        let sent = client
            .post(format!("{api}/v1/jobs"))
            .json(body)
            .send()
            .await;
        let Ok(response) = sent else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let status = response.status();
        let retry_after = response.headers().contains_key("retry-after");
        answers.record(status, retry_after);
        if status == StatusCode::ACCEPTED {
            let job: Value = response.json().await.unwrap();
            return job["jobId"].as_str().unwrap().to_owned();
        }
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            response.text().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How long the database stays down: longer than a process waits for a connection
/// (10 s), so that requests meanwhile are answered, not only delayed.
const OUTAGE: Duration = Duration::from_secs(12);

/// Restarts the local PostgreSQL cluster, down for [`OUTAGE`].
fn restart_postgres() {
    let version = std::fs::read_dir("/etc/postgresql")
        .expect("PostgreSQL's configuration in /etc/postgresql")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .max()
        .unwrap();
    let cluster = |action: &str| {
        let status = Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &version, "main", action])
            .status()
            .expect("pg_ctlcluster runs");
        assert!(status.success(), "pg_ctlcluster {action}");
    };
    cluster("stop");
    std::thread::sleep(OUTAGE);
    cluster("start");
}

/// Jobs per state, read from `/metrics` (counted in the database at scrape time).
async fn job_counts(api: &str) -> Option<(u64, u64)> {
    let text = Client::new()
        .get(format!("{api}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let count = |status: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("easel_jobs{{status=\"{status}\"}}")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse::<f64>().ok())
            .map(|n| n as u64)
    };
    Some((count("COMPLETED")?, count("FAILED").unwrap_or(0)))
}

/// Stored objects under `dir` (staging files of writes a kill interrupted, `…#n`, are
/// not objects: no reader ever sees them, and a later start sweeps them).
fn files_under(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| {
            if e.path().is_dir() {
                files_under(&e.path())
            } else {
                usize::from(!e.file_name().to_string_lossy().contains('#'))
            }
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_every_job_completes_once_through_kills_and_a_database_restart() {
    const JOBS: usize = 1_000;
    let _serial = SERIAL.lock().await;
    let deployment = Deployment::new();
    let migrated = deployment.command(&["db", "migrate"]).status().unwrap();
    assert!(migrated.success());
    let apis = [deployment.api(), deployment.api()];
    let bases: Vec<String> = apis.iter().map(|a| base(a).to_owned()).collect();
    let mut workers: Vec<Easel> = (0..3).map(|_| deployment.worker()).collect();
    let client = user(&bases[0]).await;
    let key = upload(&client, &bases[1]).await;
    let answers = Arc::new(Answers::default());

    // Clients submit through both API processes, 16 at a time.
    let submitting = {
        let (client, bases, answers) = (client.clone(), bases.clone(), answers.clone());
        tokio::spawn(async move {
            let body = process_job(&key);
            let mut ids = Vec::with_capacity(JOBS);
            for chunk in (0..JOBS).collect::<Vec<_>>().chunks(16) {
                let batch = chunk.iter().map(|i| {
                    let api = &bases[i % 2];
                    submit(&client, api, &body, &answers)
                });
                ids.extend(futures::future::join_all(batch).await);
            }
            ids
        })
    };
    // A prober reads through both the whole time.
    let probing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let prober = {
        let (client, bases, answers, probing) = (
            client.clone(),
            bases.clone(),
            answers.clone(),
            probing.clone(),
        );
        tokio::spawn(async move {
            while probing.load(std::sync::atomic::Ordering::Relaxed) {
                for api in &bases {
                    if let Ok(response) = client.get(format!("{api}/v1/jobs?limit=1")).send().await
                    {
                        let retry = response.headers().contains_key("retry-after");
                        answers.record(response.status(), retry);
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    // Chaos: a worker killed, the database restarted, two more workers killed; each
    // killed worker is replaced.
    tokio::time::sleep(Duration::from_secs(2)).await;
    workers[0].kill();
    workers.push(deployment.worker());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let outage = Instant::now();
    tokio::task::spawn_blocking(restart_postgres).await.unwrap();
    let back = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    workers[1].kill();
    workers.push(deployment.worker());
    tokio::time::sleep(Duration::from_secs(2)).await;
    workers[2].kill();
    workers.push(deployment.worker());

    let ids = submitting.await.unwrap();
    assert_eq!(ids.len(), JOBS);
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Some((completed, failed)) = job_counts(&bases[0]).await {
            assert_eq!(failed, 0, "no job failed");
            if completed == JOBS as u64 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "every job completes within 5 minutes"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    probing.store(false, std::sync::atomic::Ordering::Relaxed);
    prober.await.unwrap();

    // Each job wrote its one output, and nothing else is there.
    let mut outputs = std::collections::HashSet::new();
    for id in &ids {
        let job = json_of(client.get(format!("{}/v1/jobs/{id}", bases[0]))).await;
        assert_eq!(job["status"], "COMPLETED", "{job}");
        let results = job["results"].as_array().unwrap();
        assert_eq!(results.len(), 1, "{job}");
        assert!(outputs.insert(results[0]["output"]["key"].to_string()));
    }
    let stored = files_under(&deployment.dir.path().join("objects/outputs"));
    assert_eq!(stored, JOBS, "one stored output per job, no orphans");

    // Never a 500; during the outage only 503s with Retry-After; after it, no failure.
    let answers = answers.0.lock().unwrap();
    let settled = back + Duration::from_secs(5);
    for (at, status, retry_after) in answers.iter() {
        assert!(
            *status < 500 || *status == 503,
            "a {status} at {:?}",
            at.duration_since(outage)
        );
        if *status == 503 {
            assert!(retry_after, "a 503 without Retry-After");
        }
        if *at > settled {
            assert!(*status < 400, "a {status} after the database was back");
        }
    }
    let during = answers.iter().filter(|(_, s, _)| *s == 503).count();
    assert!(during > 0, "clients were told the database is down");
    eprintln!(
        "chaos: {} answers, {during} were 503 during the restart ({:?})",
        answers.len(),
        back.duration_since(outage)
    );
}

/// Runs `easel` with `args`; its exit status and what it printed on stderr.
fn easel_output(deployment: &Deployment, args: &[&str]) -> (bool, String) {
    let output = deployment
        .command(args)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.success(), stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_cannot_be_used_stops_startup_with_the_reason() {
    let _serial = SERIAL.lock().await;
    let deployment = Deployment::new();
    // Nothing listens there: the URL (without its password) and the cause are named.
    let (ok, stderr) = easel_output(
        &deployment,
        &[
            "serve",
            "--database-url",
            "postgres://easel:hunter2@127.0.0.1:9/easel",
        ],
    );
    assert!(!ok);
    assert!(
        stderr.contains("cannot open the database postgres://easel:***@127.0.0.1:9/easel"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    // A schema from a newer Easel is refused, not used.
    let (ok, stderr) = easel_output(&deployment, &["db", "migrate"]);
    assert!(ok, "{stderr}");
    let bumped = Command::new("psql")
        .args([
            &deployment.database.url(),
            "-qc",
            "INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)",
        ])
        .status()
        .unwrap();
    assert!(bumped.success());
    let (ok, stderr) = easel_output(&deployment, &["worker"]);
    assert!(!ok);
    assert!(stderr.contains("999"), "{stderr}");
}
