//! Alarms through the real server: a rule on dead jobs with one-second periods goes from
//! INSUFFICIENT_DATA/OK to ALARM when failing jobs are injected and back to OK when they
//! stop; both changes reach a real webhook receiver, signed with the secret the admin
//! endpoint shows; the admin endpoint lists the state, datapoints and history. Two
//! servers on one database (PostgreSQL in the scale-out run, one SQLite file here)
//! evaluate the same rule and notify once per change. E-mail: a real SMTP server
//! (Python's aiosmtpd, `EASEL_TEST_PYTHON` from scripts/detect-fixtures) started only
//! after the first attempts failed still gets the alarm mail: an outage delays mail and
//! loses none.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};

use crate::helpers::{SmtpServer, TestApp, png};

type Received = Arc<Mutex<Vec<(HeaderMap, Value, Bytes)>>>;

async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let seen = received.clone();
    let app = axum::Router::new().route(
        "/alarm",
        post(move |headers: HeaderMap, body: Bytes| {
            let seen = seen.clone();
            async move {
                let parsed = serde_json::from_slice(&body).unwrap();
                seen.lock().unwrap().push((headers, parsed, body));
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/alarm", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

async fn alarms_seen_by(admin: &crate::helpers::Session, app: &TestApp) -> Value {
    admin
        .client
        .get(app.url("/v1/admin/alarms"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls (one admin sign-in, then every 50 ms) until the alarm is in `state`.
async fn wait_for_state(app: &TestApp, state: &str) -> Value {
    let admin = app.admin().await;
    for _ in 0..300 {
        let list = alarms_seen_by(&admin, app).await;
        if list["alarms"][0]["state"] == state {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the alarm never reached {state}: {}",
        alarms_seen_by(&admin, app).await
    );
}

#[tokio::test]
async fn failing_jobs_raise_an_alarm_that_clears_and_notifies_once_per_change() {
    let (url, received) = receiver().await;
    let app = TestApp::spawn_with(true, |config| {
        config.webhooks.allow_private = true;
        config.alarms = vec![easel::config::AlarmConfig {
            name: "dead-jobs".into(),
            metric: "dead_jobs".into(),
            threshold: 0.0,
            comparison: "greater_than".into(),
            period_secs: 1,
            // One breaching second of the last three: the alarm lasts long enough for
            // polling on a loaded machine to see it.
            evaluation_periods: 3,
            datapoints_to_alarm: Some(1),
            notify: vec![url.clone()],
            notify_email: Vec::new(),
        }];
    })
    .await;
    // A second server on the same database evaluates the same rule.
    let _sibling = app.sibling(|_| {}).await;
    wait_for_state(&app, "OK").await;

    let mut truncated = png(64, 64);
    truncated.truncate(60);
    let bad = app.upload("bad.png", "image/png", truncated).await;
    for _ in 0..3 {
        let job = app
            .create_job(&json!({ "sources": [bad], "preset": "thumbnail" }))
            .await;
        assert_eq!(
            app.wait_for_job(job["jobId"].as_str().unwrap()).await["status"],
            "FAILED"
        );
    }
    let alarmed = wait_for_state(&app, "ALARM").await;
    let entry = &alarmed["alarms"][0];
    assert!(
        entry["reason"].as_str().unwrap().contains("dead_jobs > 0"),
        "{entry}"
    );
    assert!(
        entry["datapoints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["value"].as_f64().unwrap_or(0.0) >= 1.0),
        "{entry}"
    );
    // No more failures: the next period has none, and the alarm clears.
    let cleared = wait_for_state(&app, "OK").await;
    let moves: Vec<(String, String)> = cleared["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["from"].as_str().unwrap().into(),
                t["to"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        moves[..2],
        [("ALARM".into(), "OK".into()), ("OK".into(), "ALARM".into())],
        "{moves:?}"
    );

    // Two notifications (into and out of ALARM), once each although two servers
    // evaluate, signed with the secret the admin endpoint shows.
    for _ in 0..100 {
        if received.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = received.lock().unwrap().clone();
    let changes: Vec<(&str, &str)> = received
        .iter()
        .map(|(_, body, _)| {
            assert_eq!(body["type"], "alarm.state-changed");
            (
                body["data"]["from"].as_str().unwrap(),
                body["data"]["to"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(changes, [("OK", "ALARM"), ("ALARM", "OK")], "{received:?}");
    let secret = cleared["webhookSecret"].as_str().unwrap();
    let (headers, body, raw) = &received[0];
    let header = |name: &str| headers[name].to_str().unwrap().to_owned();
    let id = header("webhook-id");
    let timestamp: i64 = header("webhook-timestamp").parse().unwrap();
    assert_eq!(
        header("webhook-signature"),
        easel_core::signature(secret, &id, timestamp, raw),
        "signed with the alarms' secret"
    );
    assert_eq!(body["data"]["alarm"], "dead-jobs");
}

#[tokio::test]
async fn alarms_are_for_administrators_and_bad_rules_are_refused() {
    let app = TestApp::spawn().await;
    let response = app.get("/v1/admin/alarms").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let bad = easel::config::Config::from_toml(
        "[[alarms]]\nname = \"x\"\nmetric = \"cpu\"\nthreshold = 1\n",
    );
    let error = bad.err().unwrap().to_string();
    assert!(error.contains("unknown alarm metric `cpu`"), "{error}");
    let bad = easel::config::Config::from_toml(
        "[[alarms]]\nname = \"x\"\nmetric = \"dead_jobs\"\nthreshold = 1\nnotify = [\"http://10.0.0.1/\"]\n",
    );
    let error = bad.err().unwrap().to_string();
    assert!(error.contains("private"), "{error}");
}

#[tokio::test]
async fn alarm_mail_waits_out_a_mail_server_outage() {
    // A port with nothing on it yet: the mail server is "down".
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = TestApp::spawn_with(true, move |config| {
        config.email.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        config.email.from = Some("Easel <easel@example.com>".into());
        // Sign-ups here are not what is tested: no verification mail among the others.
        config.auth.email_verification = easel_services::identity::EmailVerification::Off;
        config.webhooks.max_attempts = 200;
        config.alarms = vec![easel::config::AlarmConfig {
            name: "dead-jobs".into(),
            metric: "dead_jobs".into(),
            threshold: 0.0,
            comparison: "greater_than".into(),
            period_secs: 1,
            // One breaching second of the last three: the alarm lasts long enough for
            // polling on a loaded machine to see it.
            evaluation_periods: 3,
            datapoints_to_alarm: Some(1),
            notify: Vec::new(),
            notify_email: vec!["ops@example.com".into()],
        }];
    })
    .await;
    wait_for_state(&app, "OK").await;
    let mut truncated = png(64, 64);
    truncated.truncate(60);
    let bad = app.upload("bad.png", "image/png", truncated).await;
    let job = app
        .create_job(&json!({ "sources": [bad], "preset": "thumbnail" }))
        .await;
    app.wait_for_job(job["jobId"].as_str().unwrap()).await;
    wait_for_state(&app, "ALARM").await;

    // The mail job fails and is retried while the server is down.
    let admin = app.admin().await;
    let mut retried = false;
    for _ in 0..100 {
        let mail: Value = admin
            .client
            .get(app.url("/v1/jobs?kind=email"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(job) = mail["jobs"].as_array().unwrap().first()
            && job["attempts"].as_u64().unwrap() >= 2
        {
            // Waiting for its next attempt, or in it: not given up.
            assert!(
                matches!(job["status"].as_str(), Some("PENDING" | "RUNNING")),
                "{job}"
            );
            assert_eq!(job["errorCode"], "email-failed", "{job}");
            retried = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(retried, "the e-mail was not retried");

    // The server comes up: the mail arrives, once, in text and HTML.
    let smtp = SmtpServer::start(port);
    let mut messages = Vec::new();
    for _ in 0..200 {
        messages = smtp.messages();
        if !messages.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(messages.len(), 1, "{messages:?}");
    let mail = &messages[0];
    assert!(mail.contains("To: ops@example.com"), "{mail}");
    assert!(mail.contains("From: Easel <easel@example.com>"), "{mail}");
    assert!(mail.contains("Subject: [Easel] dead-jobs: ALARM"), "{mail}");
    assert!(
        mail.contains("multipart/alternative") && mail.contains("text/html"),
        "{mail}"
    );
    assert!(mail.contains("dead_jobs > 0"), "{mail}");
}

/// An elevated 4xx rate, counted from every process's answers: a burst of 404s raises
/// `http_4xx_ratio`; the plain 200s of the admin's polling bring it back to OK.
#[tokio::test]
async fn a_burst_of_client_errors_raises_the_4xx_rate_alarm() {
    let app = TestApp::spawn_with(true, |config| {
        config.alarms = vec![easel::config::AlarmConfig {
            name: "clients-failing".into(),
            metric: "http_4xx_ratio".into(),
            threshold: 0.5,
            comparison: "greater_than".into(),
            period_secs: 1,
            evaluation_periods: 1,
            datapoints_to_alarm: None,
            notify: Vec::new(),
            notify_email: Vec::new(),
        }];
    })
    .await;
    let sibling = app.sibling(|_| {}).await;
    // Both servers answer the burst: the ratio is over their sum.
    let burst = async {
        for i in 0..200 {
            let server = if i % 2 == 0 { &app } else { &sibling };
            let response = server.get("/v1/jobs/not-a-job").await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND);
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    };
    let admin = app.admin().await;
    let watch = async {
        // Polling slowly enough that its own 200s stay a small share of the answers.
        for _ in 0..40 {
            let list = alarms_seen_by(&admin, &app).await;
            if list["alarms"][0]["state"] == "ALARM" {
                return list;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("no ALARM: {}", alarms_seen_by(&admin, &app).await);
    };
    let (_, alarmed) = tokio::join!(burst, watch);
    let reason = alarmed["alarms"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("http_4xx_ratio > 0.5"), "{reason}");
    wait_for_state(&app, "OK").await;
}
