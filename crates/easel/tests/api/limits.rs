//! Usage plans across two Easel processes sharing one database: the token bucket and
//! the quotas are shared, and a 429 carries `Retry-After` and `x-ratelimit-*`.

use std::collections::BTreeMap;

use easel_core::OpClass;
use easel_services::usage::{Plan, QuotaLimits};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code};

fn header(response: &reqwest::Response, name: &str) -> u64 {
    response.headers()[name].to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_bucket_is_shared_by_two_processes() {
    // One request per minute, bursts of 3.
    let app = TestApp::spawn_with(false, |config| {
        config.plans.insert(
            "tight".into(),
            Plan {
                rate_per_sec: 1.0 / 60.0,
                burst: 3,
                quotas: BTreeMap::new(),
            },
        );
        config.auth.default_plan = "tight".into();
    })
    .await;
    let other = app.sibling(|_| {}).await;
    assert_ne!(app.base, other.base);
    let first = app.get("/v1/jobs").await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(header(&first, "x-ratelimit-limit"), 3);
    assert_eq!(header(&first, "x-ratelimit-remaining"), 2);
    let second = other.get("/v1/jobs").await;
    assert_eq!(
        header(&second, "x-ratelimit-remaining"),
        1,
        "the other process counts too"
    );
    assert_eq!(app.get("/v1/jobs").await.status(), StatusCode::OK);
    let refused = other.get("/v1/jobs").await;
    let retry = header(&refused, "retry-after");
    assert!((55..=60).contains(&retry), "{retry}");
    assert_eq!(header(&refused, "x-ratelimit-remaining"), 0);
    assert_eq!(header(&refused, "x-ratelimit-limit"), 3);
    assert!((175..=180).contains(&header(&refused, "x-ratelimit-reset")));
    assert_eq!(
        error_code(refused, StatusCode::TOO_MANY_REQUESTS).await,
        "rate-limited"
    );
    // Another principal has its own bucket.
    let user_b = app.new_user("user-b@example.test").await;
    assert_eq!(
        user_b
            .client
            .get(app.url("/v1/jobs"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn busy_plans_lease_tokens_yet_both_processes_stay_within_one_bucket() {
    // 200 requests/s, bursts of 20: each process takes 2 tokens per lease.
    let (rate, burst) = (200.0, 20);
    let app = TestApp::spawn_with(false, |config| {
        config.plans.insert(
            "busy".into(),
            Plan {
                rate_per_sec: rate,
                burst,
                quotas: BTreeMap::new(),
            },
        );
        config.auth.default_plan = "busy".into();
    })
    .await;
    let other = app.sibling(|_| {}).await;
    let first = app.get("/v1/jobs").await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(
        header(&first, "x-ratelimit-remaining"),
        19,
        "tokens held by the lease count as remaining"
    );
    let started = std::time::Instant::now();
    let requests = (0..160).map(|i| {
        let target = if i % 2 == 0 { &app } else { &other };
        target.get("/v1/jobs")
    });
    let statuses: Vec<StatusCode> = futures::future::join_all(requests)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    let allowed = statuses.iter().filter(|s| **s == StatusCode::OK).count() as f64;
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count() as f64;
    assert_eq!(allowed + refused, 160.0, "{statuses:?}");
    // One shared bucket: the burst, what refilled meanwhile, and at most one lease per
    // process taken ahead. Two separate buckets would allow twice the burst.
    let bound = f64::from(burst) + rate * elapsed + 2.0 * 2.0;
    assert!(
        allowed <= bound,
        "{allowed} allowed in {elapsed:.3} s, more than one bucket gives ({bound:.1})"
    );
    assert!(allowed >= f64::from(burst) - 1.0 - 4.0, "{allowed} allowed");
    if bound < 160.0 {
        assert!(refused > 0.0);
    }
}

#[tokio::test]
async fn process_quotas_are_shared_and_reported_by_me() {
    let app = TestApp::spawn_with(false, |config| {
        let mut quotas = BTreeMap::new();
        quotas.insert(
            OpClass::Process,
            QuotaLimits {
                day: Some(3),
                week: None,
                month: Some(100),
            },
        );
        config.plans.insert(
            "trial".into(),
            Plan {
                rate_per_sec: 100.0,
                burst: 100,
                quotas,
            },
        );
        config.auth.default_plan = "trial".into();
    })
    .await;
    let other = app.sibling(|_| {}).await;
    let noop = json!({ "kind": "noop" });
    assert_eq!(
        app.post_json("/v1/jobs", &noop).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        other.post_json("/v1/jobs", &noop).await.status(),
        StatusCode::ACCEPTED
    );
    let me: Value = other.get("/v1/me").await.json().await.unwrap();
    assert_eq!(me["plan"]["name"], "trial");
    assert_eq!(me["quotas"]["process"]["day"]["used"], 2);
    assert_eq!(me["quotas"]["process"]["day"]["remaining"], 1);
    assert_eq!(me["quotas"]["process"]["month"]["remaining"], 98);
    assert_eq!(
        me["quotas"]["generate"],
        Value::Null,
        "no quota for this class"
    );
    // A refused request is not counted: only accepted work uses the quota.
    let seed = app
        .post_json(
            "/process",
            &json!({ "imageUrls": ["s3://uploads/none.png"] }),
        )
        .await;
    assert_eq!(seed.status(), StatusCode::NOT_FOUND, "refused, not counted");
    assert_eq!(
        app.post_json("/v1/jobs", &noop).await.status(),
        StatusCode::ACCEPTED,
        "the third of three"
    );
    let over = other.post_json("/v1/jobs", &noop).await;
    let retry = header(&over, "retry-after");
    assert!((1..=86_400).contains(&retry));
    assert_eq!(header(&over, "x-ratelimit-reset"), retry);
    assert_eq!(
        (
            header(&over, "x-ratelimit-limit"),
            header(&over, "x-ratelimit-remaining")
        ),
        (3, 0)
    );
    assert_eq!(
        error_code(over, StatusCode::TOO_MANY_REQUESTS).await,
        "quota-exceeded"
    );
    // Reads are not quota'd; another user has their own quota.
    assert_eq!(app.get("/v1/jobs").await.status(), StatusCode::OK);
    let user_b = app.new_user("user-b@example.test").await;
    let theirs = user_b
        .client
        .post(app.url("/v1/jobs"))
        .json(&noop)
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn cors_preflight_is_answered_for_allowed_origins_only() {
    let app = TestApp::spawn_with(false, |config| {
        config.cors.allowed_origins = vec!["https://app.example.com".into()];
    })
    .await;
    let preflight = |origin: &'static str| {
        app.anonymous()
            .request(reqwest::Method::OPTIONS, app.url("/v1/jobs"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = preflight("https://app.example.com").await.unwrap();
    assert!(allowed.status().is_success());
    let headers = allowed.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    let methods = headers["access-control-allow-methods"].to_str().unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let allowed_headers = headers["access-control-allow-headers"].to_str().unwrap();
    assert!(
        allowed_headers.contains("authorization"),
        "{allowed_headers}"
    );
    assert!(headers.get("access-control-allow-credentials").is_none());
    let denied = preflight("https://evil.example.net").await.unwrap();
    assert!(
        denied
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    // A real cross-origin call gets the header and can read the request id.
    let call = app
        .client
        .get(app.url("/v1/jobs"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        call.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let exposed = call.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap();
    assert!(
        exposed.contains("x-request-id") && exposed.contains("retry-after"),
        "{exposed}"
    );
}
