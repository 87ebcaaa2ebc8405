//! Slow and abusive clients against the real server: 500 connections that send their
//! headers a byte at a time (slowloris) neither starve a normal client nor hold their
//! connections past `server.header_read_timeout_secs`; bodies trickled below
//! `server.body_min_bytes_per_sec` are cut off with 408 while a slow but steady body is
//! taken; connections past `server.max_connections` are closed on accept while the
//! server goes on serving.

#[path = "support/processes.rs"]
mod processes;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn serve(data: &std::path::Path, max_connections: usize) -> processes::Easel {
    // The test's own HTTP client needs rustls's crypto provider.
    easel_services::identity::install_tls_provider();
    let mut command = Command::new(env!("CARGO_BIN_EXE_easel"));
    command
        .arg("serve")
        .env_remove("EASEL_CONFIG")
        .env("EASEL__STORAGE__DATA_DIR", data)
        .env("EASEL__SERVER__BIND", "127.0.0.1:0")
        .env("EASEL__AUTH__MODE", "none")
        .env("EASEL__SERVER__HEADER_READ_TIMEOUT_SECS", "2")
        .env("EASEL__SERVER__BODY_MIN_BYTES_PER_SEC", "100")
        .env("EASEL__SERVER__BODY_GRACE_SECS", "1")
        // Hundreds of requests from the one local principal: not what is tested here.
        .env("EASEL__PLANS__DEFAULT__RATE_PER_SEC", "10000")
        .env("EASEL__PLANS__DEFAULT__BURST", "10000")
        .env(
            "EASEL__SERVER__MAX_CONNECTIONS",
            max_connections.to_string(),
        )
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    processes::serve(command)
}

fn address(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

/// Whether the server closed `stream` (a read ends or fails) within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buffer = [0u8; 256];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {} // a 408 or similar before the close: read on
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_neither_starve_others_nor_stay_open() {
    let data = tempfile::tempdir().unwrap();
    let server = serve(data.path(), 10_000);
    let base = server.base.clone().unwrap();
    let target = address(&base);

    // 500 connections that start a request and then trickle one header byte a second.
    let mut slow = Vec::new();
    for _ in 0..500 {
        let mut stream = TcpStream::connect(&target).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: easel\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(stream);
    }
    let trickle = tokio::spawn(async move {
        for _ in 0..2 {
            tokio::time::sleep(Duration::from_millis(900)).await;
            for stream in &mut slow {
                let _ = stream.write_all(b"a").await;
            }
        }
        slow
    });

    // A normal client is served promptly while they hang on.
    let client = reqwest::Client::new();
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        let response = client.get(format!("{base}/healthz")).send().await.unwrap();
        assert!(response.status().is_success());
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        slowest < Duration::from_millis(500),
        "slowest normal request {slowest:?}"
    );

    // Past the header read timeout (2 s) every slow connection is closed by the server.
    let mut slow = trickle.await.unwrap();
    let mut closed = 0;
    for stream in &mut slow {
        if closed_within(stream, Duration::from_secs(5)).await {
            closed += 1;
        }
    }
    assert_eq!(closed, 500, "every slowloris connection was cut off");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_closed_and_the_server_goes_on() {
    let data = tempfile::tempdir().unwrap();
    let server = serve(data.path(), 20);
    let base = server.base.clone().unwrap();
    let target = address(&base);
    // 20 idle connections fill the cap (keep-alive clients holding sockets).
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(TcpStream::connect(&target).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = TcpStream::connect(&target).await.unwrap();
    assert!(
        closed_within(&mut extra, Duration::from_secs(2)).await,
        "a connection over the cap is closed"
    );
    // Once the idle ones go, new clients are served again.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match reqwest::get(format!("{base}/healthz")).await {
            Ok(response) if response.status().is_success() => break,
            _ => {}
        }
        assert!(Instant::now() < deadline, "the server serves again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A `POST /v1/jobs` of a noop job whose JSON is padded with spaces to `length` bytes.
fn padded_job(length: usize) -> Vec<u8> {
    let mut body = br#"{"kind":"noop"}"#.to_vec();
    body.resize(length, b' ');
    body
}

fn post_head(length: usize) -> Vec<u8> {
    format!(
        "POST /v1/jobs HTTP/1.1\r\nHost: easel\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
    .into_bytes()
}

/// Reads what the server answers on `stream` until it closes or `within` passes.
async fn answer(stream: &mut TcpStream, within: Duration) -> String {
    let mut all = Vec::new();
    let mut buffer = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return String::from_utf8_lossy(&all).into_owned(),
            Ok(Ok(n)) => all.extend_from_slice(&buffer[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_bodies_are_cut_off_and_steady_ones_taken() {
    let data = tempfile::tempdir().unwrap();
    let server = serve(data.path(), 10_000);
    let base = server.base.clone().unwrap();
    let target = address(&base);

    // 200 connections announce a 1000-byte body and send a byte a second.
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(&target).await.unwrap();
        stream.write_all(&post_head(1000)).await.unwrap();
        stream.write_all(b"{").await.unwrap();
        slow.push(stream);
    }
    let trickle = tokio::spawn(async move {
        for _ in 0..2 {
            tokio::time::sleep(Duration::from_millis(900)).await;
            for stream in &mut slow {
                let _ = stream.write_all(b" ").await;
            }
        }
        slow
    });

    // A steady body above the rate (300 bytes over about 2 s, past the grace period)
    // is taken.
    let mut steady = TcpStream::connect(&target).await.unwrap();
    steady.write_all(&post_head(300)).await.unwrap();
    for chunk in padded_job(300).chunks(30) {
        if let Err(error) = steady.write_all(chunk).await {
            let early = answer(&mut steady, Duration::from_secs(1)).await;
            panic!("the steady body was refused ({error}): {early}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let taken = answer(&mut steady, Duration::from_secs(5)).await;
    assert!(taken.starts_with("HTTP/1.1 202"), "{taken}");

    // Normal clients are served promptly meanwhile.
    let client = reqwest::Client::new();
    let started = Instant::now();
    let response = client
        .post(format!("{base}/v1/jobs"))
        .json(&serde_json::json!({ "kind": "noop" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
    assert!(started.elapsed() < Duration::from_millis(500));

    // The trickling ones get 408 body-timeout, and their connections are closed.
    let mut slow = trickle.await.unwrap();
    let mut cut = 0;
    for stream in &mut slow {
        let text = answer(stream, Duration::from_secs(5)).await;
        if text.starts_with("HTTP/1.1 408") && text.contains("body-timeout") {
            cut += 1;
        }
    }
    assert_eq!(cut, 200, "every trickled body was cut off with 408");
}
