//! The conformance suite every metadata store and blob store must pass. Each check is a
//! generic function over the traits; `store_tests!` at the bottom generates one module
//! per engine (`sqlite_store`, `postgres_store`) running every check on a fresh store.
//! PostgreSQL runs at `EASEL_TEST_DATABASE_URL` or `EASEL_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), each test in a schema of its own that is
//! dropped afterwards; `tests/postgres.rs` holds the checks only PostgreSQL needs.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use easel_core::{
    Bucket, ImageResult, JobId, JobKind, JobStatus, ObjectKey, ObjectRef, now_millis,
};
use easel_store::{
    Activity, ApiKey, AuditEvent, Blobs, Bucket as RateBucket, CancelOutcome, Claim, CodeCheck,
    Completion, Delivery, ExpectedUpload, ExternalPrincipal, FailOutcome, HttpCounts, Issued,
    JobFilter, Jobs, Lease, LockoutPolicy, MULTIPART_BYTES, NewJob, NewRefreshToken, Notifications,
    ObjectBlobs, ObjectMeta, Queue, QuotaOutcome, QuotaWindow, RateDecision, Redrive, Reminder,
    RequestRecord, RotateOutcome, SqliteStore, StoreError, UploadSettled, UploadState, User,
    Wakeups,
};
use futures::StreamExt;

#[path = "support/pg.rs"]
mod pg;
#[path = "support/s3.rs"]
mod s3;

trait MetaStore: easel_store::MetadataStore {}
impl<T: easel_store::MetadataStore> MetaStore for T {}

const LONG: Duration = Duration::from_secs(300);

async fn claim_one(store: &impl Queue, lease: Duration) -> Option<Claim> {
    let mut claims = store.claim(lease, 1).await.unwrap();
    assert!(
        claims.len() <= 1,
        "claim(_, 1) returned {} jobs",
        claims.len()
    );
    claims.pop()
}

async fn complete_one(
    store: &impl Queue,
    lease: &Lease,
    results: &[ImageResult],
) -> Result<bool, StoreError> {
    let completion = Completion {
        lease: lease.clone(),
        results: results.to_vec(),
    };
    Ok(store.complete(&[completion]).await?[0])
}

fn new_job(owner: &str, key: Option<&str>, body: &str) -> NewJob {
    NewJob {
        id: JobId::new(),
        owner: owner.to_owned(),
        kind: JobKind::Noop,
        spec: serde_json::json!({ "body": body }),
        image_count: 1,
        max_attempts: 3,
        idempotency_key: key.map(str::to_owned),
        request_hash: format!("hash-{body}"),
        expires_at: None,
    }
}

fn object(bucket: Bucket, key: &str) -> ObjectRef {
    ObjectRef {
        bucket,
        key: ObjectKey::parse(key).unwrap(),
    }
}

async fn create_get_list_and_idempotency(store: Arc<impl MetaStore>) {
    let first = store
        .create(new_job("alice", Some("k1"), "a"))
        .await
        .unwrap();
    assert!(!first.replayed);
    assert_eq!(first.job.status, JobStatus::Pending);
    let replay = store
        .create(new_job("alice", Some("k1"), "a"))
        .await
        .unwrap();
    assert!(replay.replayed);
    assert_eq!(replay.job.id, first.job.id);
    let conflict = store.create(new_job("alice", Some("k1"), "b")).await;
    assert!(matches!(conflict, Err(StoreError::IdempotencyConflict)));
    // Keys are per owner.
    let bob = store.create(new_job("bob", Some("k1"), "b")).await.unwrap();
    assert!(!bob.replayed);
    // A replay can be looked up before anything is created (quotas are charged only
    // for new work); a lookup creates nothing.
    let looked_up = store
        .replay_of(&new_job("alice", Some("k1"), "a"))
        .await
        .unwrap()
        .expect("the earlier request's job");
    assert!(looked_up.replayed);
    assert_eq!(looked_up.job.id, first.job.id);
    let reused = store.replay_of(&new_job("alice", Some("k1"), "z")).await;
    assert!(matches!(reused, Err(StoreError::IdempotencyConflict)));
    assert!(
        store
            .replay_of(&new_job("alice", Some("k2"), "a"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .replay_of(&new_job("alice", None, "a"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .replay_of(&new_job("carol", Some("k1"), "a"))
            .await
            .unwrap()
            .is_none(),
        "keys are per owner"
    );

    let fetched = store.get(first.job.id).await.unwrap().unwrap();
    assert_eq!(fetched, first.job);
    assert!(store.get(JobId::new()).await.unwrap().is_none());

    for body in ["c", "d", "e"] {
        store.create(new_job("alice", None, body)).await.unwrap();
    }
    let page1 = store
        .list(&JobFilter {
            owner: Some("alice".into()),
            limit: 2,
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(page1.len(), 2);
    assert!(page1[0].id > page1[1].id, "newest first");
    let page2 = store
        .list(&JobFilter {
            owner: Some("alice".into()),
            limit: 10,
            before: Some(page1[1].id),
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(page2.len(), 2);
    assert!(
        page2
            .iter()
            .all(|j| j.owner == "alice" && j.id < page1[1].id)
    );
    let everyone = store
        .list(&JobFilter {
            limit: 100,
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(everyone.len(), 5);
}

async fn claim_complete_and_fencing(store: Arc<impl MetaStore>) {
    assert!(claim_one(&*store, LONG).await.is_none());
    let created = store.create(new_job("alice", None, "x")).await.unwrap().job;
    assert_eq!(store.depth().await.unwrap(), 1);
    let claim = claim_one(&*store, LONG).await.unwrap();
    assert_eq!(claim.job.id, created.id);
    assert_eq!(claim.job.status, JobStatus::Running);
    assert_eq!(claim.lease.attempt, 1);
    assert_eq!(store.depth().await.unwrap(), 0);
    assert!(
        claim_one(&*store, LONG).await.is_none(),
        "a leased job is invisible"
    );

    let mut forged = claim.lease.clone();
    forged.token = "not-the-token".into();
    assert!(!store.heartbeat(&forged, LONG).await.unwrap());
    assert!(!complete_one(&*store, &forged, &[]).await.unwrap());
    assert!(store.heartbeat(&claim.lease, LONG).await.unwrap());
    assert!(store.progress(&claim.lease, 1, 2).await.unwrap());
    let running = store.get(created.id).await.unwrap().unwrap();
    assert_eq!((running.progress, running.progress_total), (1, 2));
    assert!(!store.progress(&forged, 2, 2).await.unwrap(), "fenced");

    let result = ImageResult {
        index: 0,
        source: Some(object(Bucket::Uploads, "uploads/a.jpg")),
        output: None,
        detections: vec![],
        error: None,
    };
    assert!(
        complete_one(&*store, &claim.lease, std::slice::from_ref(&result))
            .await
            .unwrap()
    );
    let done = store.get(created.id).await.unwrap().unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(
        done.progress, 2,
        "completion finishes the progress in its own units"
    );
    assert_eq!(done.results, vec![result]);
    assert_eq!(done.attempts, 1);
    assert!(
        !complete_one(&*store, &claim.lease, &[]).await.unwrap(),
        "completes once"
    );
}

async fn retries_then_dead(store: Arc<impl MetaStore>) {
    let id = store
        .create(new_job("alice", None, "x"))
        .await
        .unwrap()
        .job
        .id;
    for attempt in 1..=3u32 {
        let claim = claim_one(&*store, LONG).await.expect("claimable");
        assert_eq!(claim.lease.attempt, attempt);
        let outcome = store
            .fail(
                &claim.lease,
                "engine-failed",
                &format!("boom {attempt}"),
                Some(Duration::ZERO),
                &[],
            )
            .await
            .unwrap();
        if attempt < 3 {
            assert!(matches!(outcome, FailOutcome::Retrying { .. }));
            let job = store.get(id).await.unwrap().unwrap();
            assert_eq!(job.status, JobStatus::Pending);
            assert_eq!(
                job.error.as_deref(),
                Some(format!("boom {attempt}").as_str())
            );
        } else {
            assert_eq!(outcome, FailOutcome::Dead);
        }
    }
    let dead = store.get(id).await.unwrap().unwrap();
    assert_eq!(dead.status, JobStatus::Failed);
    assert_eq!(dead.attempts, 3);
    assert_eq!(dead.error.as_deref(), Some("boom 3"));
    assert_eq!(dead.error_code.as_deref(), Some("engine-failed"));
    assert!(claim_one(&*store, LONG).await.is_none());
}

async fn backoff_hides_the_job(store: Arc<impl MetaStore>) {
    store.create(new_job("alice", None, "x")).await.unwrap();
    let claim = claim_one(&*store, LONG).await.unwrap();
    let outcome = store
        .fail(
            &claim.lease,
            "worker-error",
            "later",
            Some(Duration::from_secs(60)),
            &[],
        )
        .await
        .unwrap();
    assert!(matches!(outcome, FailOutcome::Retrying { .. }));
    assert!(claim_one(&*store, LONG).await.is_none());
}

async fn permanent_failure_is_dead_at_once(store: Arc<impl MetaStore>) {
    let id = store
        .create(new_job("alice", None, "x"))
        .await
        .unwrap()
        .job
        .id;
    let claim = claim_one(&*store, LONG).await.unwrap();
    let outcome = store
        .fail(&claim.lease, "corrupt-image", "corrupt", None, &[])
        .await
        .unwrap();
    assert_eq!(outcome, FailOutcome::Dead);
    assert_eq!(store.get(id).await.unwrap().unwrap().attempts, 1);
}

async fn expired_lease_is_reclaimed_then_dead(store: Arc<impl MetaStore>) {
    let id = store
        .create(new_job("alice", None, "x"))
        .await
        .unwrap()
        .job
        .id;
    // A zero lease expires at once, as if the worker died.
    let first = claim_one(&*store, Duration::ZERO).await.unwrap();
    let second = claim_one(&*store, Duration::ZERO).await.unwrap();
    assert_eq!(second.job.id, id);
    assert_eq!(second.lease.attempt, 2);
    assert!(
        !complete_one(&*store, &first.lease, &[]).await.unwrap(),
        "the old holder is fenced off"
    );
    let third = claim_one(&*store, Duration::ZERO).await.unwrap();
    assert_eq!(third.lease.attempt, 3);
    // Stores may sweep dead leases at most every 100 ms (PostgreSQL does, so that a
    // busy queue's empty claims do not all sweep): the next claim after that does it.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(claim_one(&*store, LONG).await.is_none());
    let dead = store.get(id).await.unwrap().unwrap();
    assert_eq!(dead.status, JobStatus::Failed);
    assert!(dead.error.unwrap().contains("lease expired"));
    assert_eq!(dead.error_code.as_deref(), Some("lease-expired"));
}

/// Alarm data: a window's job counts (webhooks left out), the first datapoint of a
/// period kept, compare-and-set transitions with their history.
async fn alarm_data(store: Arc<impl MetaStore>) {
    let start = now_millis();
    for (code, permanent) in [("corrupt-image", true), ("engine-failed", true)] {
        store.create(new_job("alice", None, code)).await.unwrap();
        let claim = claim_one(&*store, LONG).await.unwrap();
        let retry = (!permanent).then_some(Duration::ZERO);
        store
            .fail(&claim.lease, code, "broke", retry, &[])
            .await
            .unwrap();
    }
    store.create(new_job("alice", None, "fine")).await.unwrap();
    let claim = claim_one(&*store, LONG).await.unwrap();
    assert!(complete_one(&*store, &claim.lease, &[]).await.unwrap());
    let waiting = store
        .create(new_job("alice", None, "waits"))
        .await
        .unwrap()
        .job;
    let stats = store.window_stats(start, now_millis() + 1).await.unwrap();
    assert_eq!((stats.completed, stats.failed, stats.timeouts), (1, 2, 0));
    let before = store.window_stats(0, start).await.unwrap();
    assert_eq!((before.completed, before.failed), (0, 0));
    assert_eq!(
        store.oldest_waiting().await.unwrap(),
        Some(waiting.created_at)
    );

    store.put_datapoint("dead", 1_000, Some(2.0)).await.unwrap();
    store.put_datapoint("dead", 1_000, Some(9.0)).await.unwrap();
    store.put_datapoint("dead", 2_000, None).await.unwrap();
    store
        .put_datapoint("other", 2_000, Some(1.0))
        .await
        .unwrap();
    assert_eq!(
        store.datapoints("dead", 0, 2_000).await.unwrap(),
        vec![(2_000, None), (1_000, Some(2.0))]
    );
    assert_eq!(
        store.datapoints("dead", 1_000, 5_000).await.unwrap(),
        vec![(2_000, None)]
    );

    assert!(
        store
            .transition_alarm("dead", 0, "OK", "no failures", 10)
            .await
            .unwrap()
    );
    assert!(
        !store
            .transition_alarm("dead", 0, "ALARM", "raced", 11)
            .await
            .unwrap()
    );
    assert!(
        store
            .transition_alarm("dead", 1, "ALARM", "2 dead jobs", 12)
            .await
            .unwrap()
    );
    assert!(
        !store
            .transition_alarm("dead", 1, "OK", "stale", 13)
            .await
            .unwrap()
    );
    let states = store.alarm_states().await.unwrap();
    assert_eq!(states.len(), 1);
    assert_eq!(
        (states[0].state.as_str(), states[0].version, states[0].since),
        ("ALARM", 2, 12)
    );
    let history = store.alarm_history(Some("dead"), 10).await.unwrap();
    let moves: Vec<(&str, &str)> = history
        .iter()
        .map(|t| (t.from.as_str(), t.to.as_str()))
        .collect();
    assert_eq!(moves, vec![("OK", "ALARM"), ("INSUFFICIENT_DATA", "OK")]);
    assert_eq!(history[0].reason, "2 dead jobs");
    assert!(
        store
            .alarm_history(Some("other"), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // HTTP answers per process and second, summed over processes and a window.
    let counts = |total, client, server| HttpCounts {
        total,
        client,
        server,
    };
    store
        .add_http_counts("p1", 5_000, counts(10, 2, 1))
        .await
        .unwrap();
    store
        .add_http_counts("p1", 5_000, counts(5, 0, 1))
        .await
        .unwrap();
    store
        .add_http_counts("p2", 5_000, counts(4, 1, 0))
        .await
        .unwrap();
    store
        .add_http_counts("p2", 6_000, counts(7, 0, 7))
        .await
        .unwrap();
    assert_eq!(
        store.http_counts(5_000, 6_000).await.unwrap(),
        counts(19, 3, 2)
    );
    assert_eq!(
        store.http_counts(0, 10_000).await.unwrap(),
        counts(26, 3, 9)
    );
    assert_eq!(
        store.http_counts(7_000, 9_000).await.unwrap(),
        counts(0, 0, 0)
    );
    assert_eq!(
        store.prune_http_counts(6_000).await.unwrap(),
        2,
        "p1 and p2 at 5 s"
    );
    assert_eq!(store.http_counts(0, 10_000).await.unwrap(), counts(7, 0, 7));
}

/// Account e-mail: verification, a pending address and the change to it (refused when
/// the name is taken), notification choices, and the weekly summary claimed once a week.
async fn account_email(store: Arc<impl MetaStore>) {
    store
        .create_user(&user("u1", "a@example.com"))
        .await
        .unwrap();
    store
        .create_user(&user("u2", "b@example.com"))
        .await
        .unwrap();
    let fresh = store.user_by_id("u1").await.unwrap().unwrap();
    assert_eq!(fresh.email_verified_at, None);
    assert_eq!(fresh.notifications, Notifications::default());

    assert!(store.set_email_verified("u1", 2_000).await.unwrap());
    assert!(!store.set_email_verified("nobody", 2_000).await.unwrap());
    assert!(
        store
            .set_pending_email("u1", Some("new@example.com"), 2_100)
            .await
            .unwrap()
    );
    let pending = store.user_by_id("u1").await.unwrap().unwrap();
    assert_eq!(pending.email_verified_at, Some(2_000));
    assert_eq!(pending.pending_email.as_deref(), Some("new@example.com"));
    // Another account's name cannot be taken; nothing changes.
    assert!(matches!(
        store.change_username("u1", "b@example.com", 2_200).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        store.user_by_id("u1").await.unwrap().unwrap().username,
        "a@example.com"
    );
    assert!(
        store
            .change_username("u1", "new@example.com", 2_300)
            .await
            .unwrap()
    );
    let changed = store
        .user_by_username("new@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.id, "u1");
    assert_eq!(changed.pending_email, None);
    assert_eq!(changed.email_verified_at, Some(2_300));
    assert!(
        store
            .user_by_username("a@example.com")
            .await
            .unwrap()
            .is_none()
    );

    let weekly = Notifications {
        job_finished: false,
        link_expiry: true,
        weekly_summary: true,
    };
    assert!(store.set_notifications("u1", weekly, 2_400).await.unwrap());
    assert!(store.set_notifications("u2", weekly, 2_400).await.unwrap());
    assert_eq!(
        store.user_by_id("u1").await.unwrap().unwrap().notifications,
        weekly
    );
    // u2 never proved its address: not due. u1 is, until its week is marked.
    let week = 7 * 86_400_000;
    let due = store.weekly_summaries_due(week, 10).await.unwrap();
    assert_eq!(
        due.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
        ["u1"]
    );
    assert!(store.mark_weekly_summary("u1", week).await.unwrap());
    assert!(
        !store.mark_weekly_summary("u1", week).await.unwrap(),
        "a second process loses the claim"
    );
    assert!(
        store
            .weekly_summaries_due(week, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .weekly_summaries_due(2 * week, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    store.set_disabled("u1", true, 2_500).await.unwrap();
    assert!(
        store
            .weekly_summaries_due(2 * week, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Link-expiry reminders come due in order and go once dropped; sign-up challenges are
/// spent once, and forgotten after they expire.
async fn reminders_and_challenges(store: Arc<impl MetaStore>) {
    let (a, b) = (JobId::new(), JobId::new());
    let reminder = |job: JobId, due_at| Reminder {
        job,
        owner: "u1".into(),
        due_at,
    };
    store.schedule_reminder(&reminder(b, 2_000)).await.unwrap();
    store.schedule_reminder(&reminder(a, 1_000)).await.unwrap();
    // Scheduling twice keeps the first.
    store.schedule_reminder(&reminder(a, 9_000)).await.unwrap();
    assert!(store.due_reminders(999, 10).await.unwrap().is_empty());
    assert_eq!(
        store.due_reminders(5_000, 10).await.unwrap(),
        [reminder(a, 1_000), reminder(b, 2_000)]
    );
    assert_eq!(store.due_reminders(5_000, 1).await.unwrap().len(), 1);
    store.drop_reminder(a).await.unwrap();
    assert_eq!(
        store.due_reminders(5_000, 10).await.unwrap(),
        [reminder(b, 2_000)]
    );

    assert!(store.spend_challenge("c1", 10_000, 1_000).await.unwrap());
    assert!(!store.spend_challenge("c1", 10_000, 2_000).await.unwrap());
    assert!(store.spend_challenge("c2", 10_000, 2_000).await.unwrap());
    // Past its expiry the record is gone (an expired challenge is refused before this).
    assert!(store.spend_challenge("c1", 30_000, 20_000).await.unwrap());
}

/// An owner's jobs per kind and status over a creation-time range.
async fn activity_by_kind_and_status(store: Arc<impl MetaStore>) {
    let before = now_millis();
    let mut generate = new_job("alice", None, "g");
    generate.kind = JobKind::Generate;
    generate.image_count = 4;
    store.create(generate).await.unwrap();
    store.create(new_job("alice", None, "p1")).await.unwrap();
    store.create(new_job("alice", None, "p2")).await.unwrap();
    store.create(new_job("bob", None, "p3")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = now_millis() + 1;
    let mut activity = store.activity("alice", before, after).await.unwrap();
    activity.sort_by_key(|a| a.kind.as_str());
    assert_eq!(
        activity,
        [
            Activity {
                kind: JobKind::Generate,
                status: JobStatus::Pending,
                jobs: 1,
                images: 4,
            },
            Activity {
                kind: JobKind::Noop,
                status: JobStatus::Pending,
                jobs: 2,
                images: 2,
            },
        ]
    );
    assert!(
        store
            .activity("alice", after, after + 1_000)
            .await
            .unwrap()
            .is_empty()
    );
}

/// One-time account codes: single use, expiring, voided by wrong tries, three sends an
/// hour.
async fn account_codes(store: Arc<impl MetaStore>) {
    let hour = 3_600_000;
    let t = 10 * hour;
    assert_eq!(
        store
            .issue_code("u1", "reset", "h1", t + 900_000, t)
            .await
            .unwrap(),
        Issued::Issued
    );
    // Wrong, then right: used once.
    assert_eq!(
        store.use_code("u1", "reset", "nope", t + 1).await.unwrap(),
        CodeCheck::Invalid
    );
    assert_eq!(
        store.use_code("u1", "reset", "h1", t + 2).await.unwrap(),
        CodeCheck::Valid
    );
    assert_eq!(
        store.use_code("u1", "reset", "h1", t + 3).await.unwrap(),
        CodeCheck::Invalid
    );
    // Another purpose or user is another code.
    assert_eq!(
        store.use_code("u2", "reset", "h1", t + 3).await.unwrap(),
        CodeCheck::Invalid
    );
    // A new code voids the old one; an expired one is refused.
    assert_eq!(
        store
            .issue_code("u1", "reset", "h2", t + 100, t + 10)
            .await
            .unwrap(),
        Issued::Issued
    );
    assert_eq!(
        store
            .issue_code("u1", "reset", "h3", t + 100, t + 20)
            .await
            .unwrap(),
        Issued::Issued
    );
    assert_eq!(
        store.use_code("u1", "reset", "h2", t + 30).await.unwrap(),
        CodeCheck::Invalid
    );
    assert_eq!(
        store.use_code("u1", "reset", "h3", t + 200).await.unwrap(),
        CodeCheck::Invalid
    );
    // Three sent this hour: the fourth waits for the hour to pass.
    assert_eq!(
        store
            .issue_code("u1", "reset", "h4", t + hour, t + 40)
            .await
            .unwrap(),
        Issued::RateLimited
    );
    assert_eq!(
        store
            .issue_code("u1", "reset", "h5", t + 2 * hour, t + hour + 1)
            .await
            .unwrap(),
        Issued::Issued
    );
    // Five wrong tries void the code, even the right one after them.
    for _ in 0..5 {
        assert_eq!(
            store
                .use_code("u1", "reset", "bad", t + hour + 2)
                .await
                .unwrap(),
            CodeCheck::Invalid
        );
    }
    assert_eq!(
        store
            .use_code("u1", "reset", "h5", t + hour + 3)
            .await
            .unwrap(),
        CodeCheck::Invalid
    );
}

/// Webhook delivery attempts, listed per target job, oldest first.
async fn webhook_delivery_log(store: Arc<impl MetaStore>) {
    let target = JobId::new();
    let other = JobId::new();
    let delivery = JobId::new();
    let attempt = |target, attempt: u32, status: Option<u16>, error: Option<&str>| Delivery {
        target,
        delivery,
        attempt,
        at: 1_000 + i64::from(attempt),
        url: "https://example.com/hook".into(),
        status,
        error: error.map(str::to_owned),
        duration_ms: 12,
    };
    let first = attempt(target, 1, Some(500), Some("the receiver answered 500"));
    let second = attempt(target, 2, Some(204), None);
    let unreachable = attempt(other, 1, None, Some("connection refused"));
    for d in [&second, &unreachable, &first] {
        store.record_delivery(d).await.unwrap();
    }
    assert_eq!(
        store.list_deliveries(target, 10).await.unwrap(),
        vec![first.clone(), second]
    );
    assert_eq!(store.list_deliveries(target, 1).await.unwrap(), vec![first]);
    assert_eq!(
        store.list_deliveries(other, 10).await.unwrap(),
        vec![unreachable]
    );
    assert!(
        store
            .list_deliveries(JobId::new(), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Dead jobs listed by error code and put back in the queue (SQS's redrive): by ids,
/// by code and kind, with a limit; a live or completed job is never touched.
async fn dead_jobs_are_listed_by_code_and_redriven(store: Arc<impl MetaStore>) {
    let mut dead = Vec::new();
    for (i, code) in [
        "corrupt-image",
        "engine-failed",
        "corrupt-image",
        "corrupt-image",
    ]
    .iter()
    .enumerate()
    {
        let id = store
            .create(new_job("alice", None, &format!("dead {i}")))
            .await
            .unwrap()
            .job
            .id;
        let claim = claim_one(&*store, LONG).await.unwrap();
        let outcome = store
            .fail(&claim.lease, code, "it broke", None, &[])
            .await
            .unwrap();
        assert_eq!(outcome, FailOutcome::Dead);
        dead.push(id);
    }
    let live = store
        .create(new_job("alice", None, "live"))
        .await
        .unwrap()
        .job
        .id;
    let corrupt = store
        .list(&JobFilter {
            status: Some(JobStatus::Failed),
            error_code: Some("corrupt-image".into()),
            limit: 10,
            ..JobFilter::default()
        })
        .await
        .unwrap();
    let mut listed: Vec<JobId> = corrupt.iter().map(|j| j.id).collect();
    listed.sort();
    assert_eq!(listed, vec![dead[0], dead[2], dead[3]]);

    // One by id (and the live job named beside it is left alone).
    let moved = store
        .redrive(
            &Redrive {
                ids: Some(vec![dead[1], live]),
                limit: 10,
                ..Redrive::default()
            },
            now_millis(),
        )
        .await
        .unwrap();
    assert_eq!(moved, vec![dead[1]]);
    let again = store.get(dead[1]).await.unwrap().unwrap();
    assert_eq!(again.status, JobStatus::Pending);
    assert_eq!(
        (
            again.attempts,
            again.error.clone(),
            again.error_code.clone()
        ),
        (0, None, None)
    );
    // By code, two at most, oldest first.
    let moved = store
        .redrive(
            &Redrive {
                error_code: Some("corrupt-image".into()),
                limit: 2,
                ..Redrive::default()
            },
            now_millis(),
        )
        .await
        .unwrap();
    assert_eq!(moved, vec![dead[0], dead[2]]);
    // The redriven jobs are claimable again, with a fresh attempt count.
    let mut claimed = Vec::new();
    while let Some(claim) = claim_one(&*store, LONG).await {
        assert_eq!(claim.lease.attempt, 1);
        claimed.push(claim.job.id);
    }
    claimed.sort();
    let mut expected = vec![dead[0], dead[1], dead[2], live];
    expected.sort();
    assert_eq!(claimed, expected);
    // Nothing left to redrive but the last corrupt one; a second redrive of moved jobs
    // moves nothing.
    let moved = store
        .redrive(
            &Redrive {
                ids: Some(vec![dead[0]]),
                limit: 10,
                ..Redrive::default()
            },
            now_millis(),
        )
        .await
        .unwrap();
    assert!(moved.is_empty());
    let rest = store
        .redrive(
            &Redrive {
                limit: 10,
                ..Redrive::default()
            },
            now_millis(),
        )
        .await
        .unwrap();
    assert_eq!(rest, vec![dead[3]]);
}

async fn cancel_and_release(store: Arc<impl MetaStore>) {
    let pending = store
        .create(new_job("alice", None, "a"))
        .await
        .unwrap()
        .job
        .id;
    match store.cancel(pending).await.unwrap() {
        CancelOutcome::Cancelled(job) => assert_eq!(job.status, JobStatus::Cancelled),
        other => panic!("expected cancelled, got {other:?}"),
    }
    assert!(
        claim_one(&*store, LONG).await.is_none(),
        "cancelled jobs leave the queue"
    );
    assert!(matches!(
        store.cancel(pending).await.unwrap(),
        CancelOutcome::NotCancellable(JobStatus::Cancelled)
    ));
    assert!(matches!(
        store.cancel(JobId::new()).await.unwrap(),
        CancelOutcome::NotFound
    ));

    let running = store
        .create(new_job("alice", None, "b"))
        .await
        .unwrap()
        .job
        .id;
    let claim = claim_one(&*store, LONG).await.unwrap();
    assert!(matches!(
        store.cancel(running).await.unwrap(),
        CancelOutcome::NotCancellable(JobStatus::Running)
    ));
    assert!(store.release(&claim.lease).await.unwrap());
    let released = store.get(running).await.unwrap().unwrap();
    assert_eq!(released.status, JobStatus::Pending);
    assert_eq!(released.attempts, 0, "a released attempt does not count");
    let again = claim_one(&*store, LONG).await.unwrap();
    assert_eq!(again.lease.attempt, 1);
    let counts = store.count_by_status().await.unwrap();
    assert!(counts.contains(&(JobStatus::Running, 1)));
    assert!(counts.contains(&(JobStatus::Cancelled, 1)));
}

async fn concurrent_claims_are_exclusive(store: Arc<impl MetaStore>) {
    let mut ids = HashSet::new();
    for i in 0..100 {
        ids.insert(
            store
                .create(new_job("alice", None, &i.to_string()))
                .await
                .unwrap()
                .job
                .id,
        );
    }
    let mut workers = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(claim) = claim_one(&*store, LONG).await {
                assert!(complete_one(&*store, &claim.lease, &[]).await.unwrap());
                mine.push(claim.job.id);
            }
            mine
        }));
    }
    let mut seen = Vec::new();
    for worker in workers {
        seen.extend(worker.await.unwrap());
    }
    assert_eq!(seen.len(), 100, "every job claimed exactly once");
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), ids);
}

async fn concurrent_creates_all_land_once(store: Arc<impl MetaStore>) {
    let creates = (0..200).map(|i| {
        let store = store.clone();
        async move {
            store
                .create(new_job("alice", None, &i.to_string()))
                .await
                .unwrap()
                .job
                .id
        }
    });
    let ids: HashSet<JobId> = futures::future::join_all(creates)
        .await
        .into_iter()
        .collect();
    assert_eq!(ids.len(), 200);
    for id in &ids {
        assert_eq!(
            store.get(*id).await.unwrap().unwrap().status,
            JobStatus::Pending
        );
    }
    assert_eq!(store.depth().await.unwrap(), 200);
    let claimed: HashSet<JobId> = store
        .claim(LONG, 500)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.job.id)
        .collect();
    assert_eq!(claimed, ids);
}

async fn batches_claim_oldest_first_and_complete_per_lease(store: Arc<impl MetaStore>) {
    let mut ids = Vec::new();
    for body in ["a", "b", "c", "d", "e"] {
        ids.push(
            store
                .create(new_job("alice", None, body))
                .await
                .unwrap()
                .job
                .id,
        );
    }
    let claims = store.claim(LONG, 3).await.unwrap();
    let claimed: Vec<JobId> = claims.iter().map(|c| c.job.id).collect();
    assert_eq!(claimed, ids[..3], "the three oldest, in order");
    let tokens: HashSet<&str> = claims.iter().map(|c| c.lease.token.as_str()).collect();
    assert_eq!(tokens.len(), 3, "every job has its own lease token");
    assert!(
        claims
            .iter()
            .all(|c| c.job.status == JobStatus::Running && c.lease.attempt == 1)
    );

    let mut forged = claims[2].lease.clone();
    forged.token.push('x');
    let completions = vec![
        Completion {
            lease: claims[0].lease.clone(),
            results: vec![],
        },
        Completion {
            lease: claims[1].lease.clone(),
            results: vec![],
        },
        Completion {
            lease: forged,
            results: vec![],
        },
    ];
    assert_eq!(
        store.complete(&completions).await.unwrap(),
        vec![true, true, false]
    );
    assert_eq!(
        store.get(ids[0]).await.unwrap().unwrap().status,
        JobStatus::Completed
    );
    assert_eq!(
        store.get(ids[2]).await.unwrap().unwrap().status,
        JobStatus::Running
    );
    let rest = store.claim(LONG, 10).await.unwrap();
    assert_eq!(rest.iter().map(|c| c.job.id).collect::<Vec<_>>(), ids[3..]);
    assert!(store.complete(&[]).await.unwrap().is_empty());
}

async fn object_metadata(store: Arc<impl MetaStore>) {
    let original = object(Bucket::Uploads, "uploads/photos/a.jpg");
    let meta = ObjectMeta {
        object: original.clone(),
        owner: "alice".into(),
        content_type: "image/jpeg".into(),
        size: 10,
        sha256: "ab".into(),
        dimensions: None,
        source: None,
        job_id: None,
        created_at: 1,
    };
    store.put_object(&meta).await.unwrap();
    assert_eq!(
        store.get_object(&original).await.unwrap(),
        Some(meta.clone())
    );
    let derived = ObjectMeta {
        object: object(Bucket::Outputs, "outputs/j/0-a.jpg"),
        dimensions: Some((800, 600)),
        source: Some(original.clone()),
        job_id: Some(JobId::new()),
        created_at: 2,
        ..meta.clone()
    };
    store.put_object(&derived).await.unwrap();
    store.put_object(&derived).await.unwrap();
    assert_eq!(
        store.derived_from(&original).await.unwrap(),
        vec![derived.clone()]
    );
    assert!(store.delete_object(&derived.object).await.unwrap());
    assert!(!store.delete_object(&derived.object).await.unwrap());
    assert!(store.get_object(&derived.object).await.unwrap().is_none());
    assert!(store.derived_from(&original).await.unwrap().is_empty());
    assert!(
        store
            .get_object(&object(Bucket::Outputs, "nope"))
            .await
            .unwrap()
            .is_none()
    );
}

/// Retention: expiry hides a job from `live_at` lists, `expired` lists only finished
/// jobs whose outputs remain, `expire` never postpones, and `outputs_removed` ends it.
async fn finished_jobs_are_pruned_but_not_live_work_or_kept_history(store: Arc<impl MetaStore>) {
    // Finished: a completed job, a cancelled one; a generation with its outputs
    // removed, and one whose outputs are still kept.
    let done = store
        .create(new_job("alice", None, "done"))
        .await
        .unwrap()
        .job;
    let claim = claim_one(store.as_ref(), LONG).await.unwrap();
    assert_eq!(claim.job.id, done.id);
    assert!(
        complete_one(store.as_ref(), &claim.lease, &[])
            .await
            .unwrap()
    );
    let cancelled = store.create(new_job("alice", None, "c")).await.unwrap().job;
    store.cancel(cancelled.id).await.unwrap();
    let mut history = Vec::new();
    for body in ["swept", "kept"] {
        let mut generation = new_job("alice", None, body);
        generation.kind = JobKind::Generate;
        let job = store.create(generation).await.unwrap().job;
        store.cancel(job.id).await.unwrap();
        history.push(job.id);
    }
    store
        .outputs_removed(history[0], easel_core::now_millis())
        .await
        .unwrap();
    // Live: a pending job.
    let pending = store.create(new_job("alice", None, "p")).await.unwrap().job;

    let later = easel_core::now_millis() + 1_000;
    assert_eq!(
        store.prune_finished(later - 60_000, 100).await.unwrap(),
        0,
        "too recent"
    );
    assert_eq!(
        store.prune_finished(later, 1).await.unwrap(),
        1,
        "at most the limit"
    );
    assert_eq!(store.prune_finished(later, 100).await.unwrap(), 2);
    assert_eq!(store.prune_finished(later, 100).await.unwrap(), 0);
    for gone in [done.id, cancelled.id, history[0]] {
        assert!(store.get(gone).await.unwrap().is_none());
    }
    assert!(
        store.get(history[1]).await.unwrap().is_some(),
        "history kept"
    );
    assert_eq!(
        store.get(pending.id).await.unwrap().unwrap().status,
        JobStatus::Pending
    );
    assert_eq!(
        claim_one(store.as_ref(), LONG).await.unwrap().job.id,
        pending.id
    );
}

async fn expiry_and_kind_filters(store: Arc<impl MetaStore>) {
    let now = easel_core::now_millis();
    let mut keep = new_job("alice", None, "keep");
    keep.kind = JobKind::Generate;
    keep.expires_at = Some(now + 60_000);
    let keep = store.create(keep).await.unwrap().job;
    assert_eq!(keep.expires_at, Some(now + 60_000));
    let mut gone = new_job("alice", None, "gone");
    gone.kind = JobKind::Generate;
    gone.expires_at = Some(now + 60_000);
    let gone = store.create(gone).await.unwrap().job;
    let other = store
        .create(new_job("alice", None, "other"))
        .await
        .unwrap()
        .job;

    let live = |at| JobFilter {
        owner: Some("alice".into()),
        kind: Some(JobKind::Generate),
        live_at: Some(at),
        limit: 10,
        ..JobFilter::default()
    };
    let ids = |jobs: Vec<easel_store::Job>| jobs.iter().map(|j| j.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list(&live(now)).await.unwrap()),
        vec![gone.id, keep.id]
    );

    // Expiring moves the expiry forward, never back.
    assert!(store.expire(gone.id, now - 1).await.unwrap());
    assert!(store.expire(gone.id, now + 999_999).await.unwrap());
    assert_eq!(
        store.get(gone.id).await.unwrap().unwrap().expires_at,
        Some(now - 1)
    );
    assert!(!store.expire(JobId::new(), now).await.unwrap());
    assert_eq!(ids(store.list(&live(now)).await.unwrap()), vec![keep.id]);
    assert_eq!(
        store
            .list(&JobFilter {
                limit: 10,
                ..JobFilter::default()
            })
            .await
            .unwrap()
            .len(),
        3,
        "without filters every job is listed"
    );
    assert!(
        ids(store.list(&live(now)).await.unwrap())
            .iter()
            .all(|id| *id != other.id)
    );

    // Not finished yet: the sweep waits for it.
    assert!(store.expired(now, 10).await.unwrap().is_empty());
    let claims = store.claim(LONG, 10).await.unwrap();
    for claim in &claims {
        complete_one(store.as_ref(), &claim.lease, &[])
            .await
            .unwrap();
    }
    assert_eq!(ids(store.expired(now, 10).await.unwrap()), vec![gone.id]);
    store.outputs_removed(gone.id, now).await.unwrap();
    assert!(store.expired(now, 10).await.unwrap().is_empty());
    // The other one expires later.
    assert_eq!(
        ids(store.expired(now + 60_000, 10).await.unwrap()),
        vec![keep.id]
    );
}

async fn request_log(store: Arc<impl MetaStore>) {
    let record = |n: u32, owner: &str| RequestRecord {
        id: uuid::Uuid::now_v7().to_string(),
        owner: owner.to_owned(),
        at: i64::from(n),
        dialect: "native".into(),
        task_type: "TEXT_IMAGE".into(),
        prompt: Some(format!("prompt {n}")),
        engine: "classic".into(),
        model: "amazon.titan-image-generator-v2:0".into(),
        seed: Some(n),
        status: "succeeded".into(),
        error_code: None,
        latency_ms: Some(12),
        output_bytes: 1000,
        image_count: 1,
        job_id: Some(JobId::new()),
    };
    let written: Vec<RequestRecord> = (0..5)
        .map(|n| record(n, if n == 2 { "bob" } else { "alice" }))
        .collect();
    for r in &written {
        store.log_request(r).await.unwrap();
    }
    let alice = store.list_requests(Some("alice"), None, 3).await.unwrap();
    assert_eq!(
        alice.iter().map(|r| r.seed).collect::<Vec<_>>(),
        vec![Some(4), Some(3), Some(1)]
    );
    assert_eq!(alice[0], written[4]);
    let rest = store
        .list_requests(Some("alice"), Some(&alice[2].id), 3)
        .await
        .unwrap();
    assert_eq!(rest, vec![written[0].clone()]);
    assert_eq!(store.list_requests(None, None, 10).await.unwrap().len(), 5);
}

async fn blob_round_trip(blobs: Arc<dyn Blobs>) {
    let at = object(Bucket::Uploads, "uploads/x/y.bin");
    assert!(matches!(blobs.get(&at).await, Err(StoreError::NotFound)));
    assert!(matches!(blobs.stat(&at).await, Err(StoreError::NotFound)));
    assert!(matches!(
        blobs.get_head(&at, 4).await,
        Err(StoreError::NotFound)
    ));
    let put = blobs
        .put(
            &at,
            Bytes::from_static(b"hello"),
            "application/octet-stream",
        )
        .await
        .unwrap();
    assert_eq!(put.size, 5);
    assert_eq!(
        put.sha256,
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    );
    assert_eq!(blobs.get(&at).await.unwrap(), Bytes::from_static(b"hello"));
    assert_eq!(blobs.stat(&at).await.unwrap().size, 5);
    assert_eq!(
        blobs.get_head(&at, 4).await.unwrap(),
        Bytes::from_static(b"hell")
    );
    assert_eq!(
        blobs.get_head(&at, 100).await.unwrap(),
        Bytes::from_static(b"hello")
    );

    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from(vec![1u8; 700_000])),
        Ok(Bytes::from(vec![2u8; 700_000])),
    ];
    let streamed = object(Bucket::Uploads, "uploads/big.bin");
    let put = blobs
        .put_stream(
            &streamed,
            futures::stream::iter(chunks).boxed(),
            2_000_000,
            "image/png",
        )
        .await
        .unwrap();
    assert_eq!(put.size, 1_400_000);
    let (size, mut stream) = blobs.get_stream(&streamed).await.unwrap();
    assert_eq!(size, 1_400_000);
    let mut total = 0;
    while let Some(chunk) = stream.next().await {
        total += chunk.unwrap().len();
    }
    assert_eq!(total, 1_400_000);

    // Over the multipart threshold: sent in parts, read back whole and unchanged.
    let large: Vec<u8> = (0..MULTIPART_BYTES * 2 + 12_345)
        .map(|i| (i % 251) as u8)
        .collect();
    let output = object(Bucket::Outputs, "job/large.png");
    let put = blobs
        .put(&output, Bytes::from(large.clone()), "image/png")
        .await
        .unwrap();
    assert_eq!(put.size, large.len() as u64);
    assert_eq!(
        blobs.get(&output).await.unwrap(),
        Bytes::from(large.clone())
    );

    // Listing names every object of a bucket with its size, and only that bucket's.
    let mut uploads: Vec<(String, u64)> = blobs
        .list(Bucket::Uploads)
        .map(|entry| entry.map(|(o, size)| (o.key.as_str().to_owned(), size)))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    uploads.sort();
    assert_eq!(
        uploads,
        vec![
            ("uploads/big.bin".to_owned(), 1_400_000),
            ("uploads/x/y.bin".to_owned(), 5)
        ]
    );
    let outputs: Vec<_> = blobs.list(Bucket::Outputs).collect().await;
    assert_eq!(outputs.len(), 1);

    let too_big = object(Bucket::Uploads, "uploads/too-big.bin");
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![Ok(Bytes::from(vec![0u8; 11]))];
    let refused = blobs
        .put_stream(
            &too_big,
            futures::stream::iter(chunks).boxed(),
            10,
            "image/png",
        )
        .await;
    assert!(matches!(refused, Err(StoreError::TooLarge { limit: 10 })));
    assert!(
        matches!(blobs.get(&too_big).await, Err(StoreError::NotFound)),
        "nothing half-written"
    );

    // A stream that breaks after several parts went up leaves nothing visible.
    let broken: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from(large.clone())),
        Ok(Bytes::from(large)),
        Err(std::io::Error::other("client vanished")),
    ];
    assert!(
        blobs
            .put_stream(
                &too_big,
                futures::stream::iter(broken).boxed(),
                u64::MAX,
                "image/png"
            )
            .await
            .is_err()
    );
    assert!(matches!(
        blobs.get(&too_big).await,
        Err(StoreError::NotFound)
    ));

    blobs.delete(&at).await.unwrap();
    blobs.delete(&at).await.unwrap();
    assert!(matches!(blobs.get(&at).await, Err(StoreError::NotFound)));
}

fn user(id: &str, username: &str) -> User {
    User {
        id: id.to_owned(),
        username: username.to_owned(),
        password_hash: format!("hash-of-{id}"),
        admin: false,
        plan: None,
        disabled: false,
        created_at: 1_000,
        updated_at: 1_000,
        email_verified_at: None,
        pending_email: None,
        notifications: Default::default(),
    }
}

async fn users_and_lockout(store: Arc<impl MetaStore>) {
    store
        .create_user(&user("u1", "a@example.com"))
        .await
        .unwrap();
    let taken = store.create_user(&user("u2", "a@example.com")).await;
    assert!(matches!(taken, Err(StoreError::Conflict)));
    store
        .create_user(&user("u2", "b@example.com"))
        .await
        .unwrap();
    assert_eq!(store.count_users().await.unwrap(), 2);
    let found = store
        .user_by_username("a@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, user("u1", "a@example.com"));
    assert_eq!(
        store.user_by_id("u2").await.unwrap().unwrap().username,
        "b@example.com"
    );
    assert!(store.user_by_id("nobody").await.unwrap().is_none());
    assert!(store.set_password_hash("u1", "new", 2_000).await.unwrap());
    assert!(store.set_disabled("u1", true, 2_000).await.unwrap());
    assert!(store.set_plan("u1", Some("pro"), 2_000).await.unwrap());
    assert!(!store.set_plan("nobody", None, 2_000).await.unwrap());
    let changed = store.user_by_id("u1").await.unwrap().unwrap();
    assert_eq!(
        (
            changed.password_hash.as_str(),
            changed.disabled,
            changed.plan.as_deref()
        ),
        ("new", true, Some("pro"))
    );
    let listed: Vec<String> = store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(listed, ["u1", "u2"]);

    let policy = LockoutPolicy {
        threshold: 3,
        base_ms: 1_000,
        max_ms: 5_000,
    };
    let mut locks = Vec::new();
    for _ in 0..7 {
        let failure = store
            .record_login_failure("x@example.com", 10_000, policy)
            .await
            .unwrap();
        locks.push(failure.locked_until);
    }
    // Locked from the third failure: 1 s, doubling, capped at 5 s.
    assert_eq!(locks, [0, 0, 11_000, 12_000, 14_000, 15_000, 15_000]);
    assert_eq!(
        store.login_locked_until("x@example.com").await.unwrap(),
        15_000
    );
    assert_eq!(store.login_locked_until("y@example.com").await.unwrap(), 0);
    store.clear_login_failures("x@example.com").await.unwrap();
    assert_eq!(store.login_locked_until("x@example.com").await.unwrap(), 0);
    let again = store
        .record_login_failure("x@example.com", 20_000, policy)
        .await
        .unwrap();
    assert_eq!((again.failures, again.locked_until), (1, 0));

    // The doubling stops at base × 2^32 when the cap is higher than that.
    let steep = LockoutPolicy {
        threshold: 1,
        base_ms: 1,
        max_ms: i64::MAX / 2,
    };
    let mut last = 0;
    for _ in 0..40 {
        last = store
            .record_login_failure("z@example.com", 0, steep)
            .await
            .unwrap()
            .locked_until;
    }
    assert_eq!(last, 1 << 32);
}

async fn external_principals(store: Arc<impl MetaStore>) {
    assert_eq!(store.external_principal("sub-1").await.unwrap(), None);
    assert!(
        !store
            .set_external_plan("sub-1", Some("pro"), 1)
            .await
            .unwrap()
    );
    let first = ExternalPrincipal {
        id: "sub-1".into(),
        issuer: "https://pool.example".into(),
        username: Some("alice".into()),
        plan: None,
        created_at: 1_000,
        updated_at: 1_000,
    };
    assert_eq!(
        store.record_external_principal(&first).await.unwrap(),
        first
    );
    assert!(
        store
            .set_external_plan("sub-1", Some("pro"), 2_000)
            .await
            .unwrap()
    );
    // A later sighting updates the name and issuer but keeps the plan and first sight.
    let renamed = ExternalPrincipal {
        username: Some("alice2".into()),
        issuer: "https://other.example".into(),
        created_at: 3_000,
        updated_at: 3_000,
        ..first.clone()
    };
    let stored = store.record_external_principal(&renamed).await.unwrap();
    assert_eq!(
        (
            stored.username.as_deref(),
            stored.issuer.as_str(),
            stored.plan.as_deref(),
            stored.created_at,
            stored.updated_at
        ),
        (
            Some("alice2"),
            "https://other.example",
            Some("pro"),
            1_000,
            3_000
        )
    );
    assert_eq!(
        store.external_principal("sub-1").await.unwrap(),
        Some(stored)
    );
    let second = ExternalPrincipal {
        id: "sub-2".into(),
        username: None,
        created_at: 2_500,
        updated_at: 2_500,
        ..first
    };
    store.record_external_principal(&second).await.unwrap();
    let listed: Vec<String> = store
        .list_external_principals()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(listed, ["sub-1", "sub-2"]);
    assert!(store.set_external_plan("sub-1", None, 4_000).await.unwrap());
    let back = store.external_principal("sub-1").await.unwrap().unwrap();
    assert_eq!((back.plan, back.updated_at), (None, 4_000));
}

async fn refresh_rotation_and_reuse(store: Arc<impl MetaStore>) {
    store
        .create_user(&user("u1", "a@example.com"))
        .await
        .unwrap();
    let first = NewRefreshToken {
        hash: "h1".into(),
        family: "f1".into(),
        user_id: "u1".into(),
        created_at: 1_000,
        expires_at: 100_000,
    };
    store.insert_refresh_token(&first).await.unwrap();
    let rotated = store.rotate_refresh_token("h1", "h2", 2_000).await.unwrap();
    assert_eq!(
        rotated,
        RotateOutcome::Rotated {
            user_id: "u1".into(),
            family: "f1".into()
        }
    );
    let rotated = store.rotate_refresh_token("h2", "h3", 3_000).await.unwrap();
    assert!(matches!(rotated, RotateOutcome::Rotated { .. }));
    // h1 again: reuse; the family (h3 included) is revoked.
    let reused = store.rotate_refresh_token("h1", "h4", 4_000).await.unwrap();
    assert_eq!(
        reused,
        RotateOutcome::Reused {
            user_id: "u1".into(),
            family: "f1".into()
        }
    );
    assert_eq!(
        store.rotate_refresh_token("h3", "h5", 5_000).await.unwrap(),
        RotateOutcome::Invalid
    );
    assert_eq!(
        store
            .rotate_refresh_token("nope", "h6", 5_000)
            .await
            .unwrap(),
        RotateOutcome::Invalid
    );

    // Expiry is the family's: a successor does not extend it.
    let other = NewRefreshToken {
        hash: "g1".into(),
        family: "f2".into(),
        expires_at: 10_000,
        ..first.clone()
    };
    store.insert_refresh_token(&other).await.unwrap();
    assert!(matches!(
        store.rotate_refresh_token("g1", "g2", 9_000).await.unwrap(),
        RotateOutcome::Rotated { .. }
    ));
    assert_eq!(
        store
            .rotate_refresh_token("g2", "g3", 10_000)
            .await
            .unwrap(),
        RotateOutcome::Invalid
    );

    // Sign-out revokes the family; per-user revocation reaches every family.
    let third = NewRefreshToken {
        hash: "k1".into(),
        family: "f3".into(),
        ..first.clone()
    };
    store.insert_refresh_token(&third).await.unwrap();
    assert_eq!(
        store
            .revoke_refresh_family("k1", 6_000)
            .await
            .unwrap()
            .as_deref(),
        Some("u1")
    );
    assert_eq!(
        store.rotate_refresh_token("k1", "k2", 7_000).await.unwrap(),
        RotateOutcome::Invalid
    );
    assert_eq!(
        store.revoke_refresh_family("unknown", 6_000).await.unwrap(),
        None
    );
    let fourth = NewRefreshToken {
        hash: "m1".into(),
        family: "f4".into(),
        ..first
    };
    store.insert_refresh_token(&fourth).await.unwrap();
    // m1 and g2 (expired but never used or revoked) are revoked now.
    assert_eq!(
        store.revoke_user_refresh_tokens("u1", 8_000).await.unwrap(),
        2
    );
    assert_eq!(
        store.rotate_refresh_token("m1", "m2", 9_000).await.unwrap(),
        RotateOutcome::Invalid
    );
}

async fn api_keys(store: Arc<impl MetaStore>) {
    let key = |id: &str, owner: &str, at: i64| ApiKey {
        id: id.to_owned(),
        owner: owner.to_owned(),
        name: format!("key {id}"),
        prefix: format!("ek_{id}"),
        created_at: at,
        revoked_at: None,
    };
    store
        .create_api_key(&key("k1", "alice", 1), "hash1")
        .await
        .unwrap();
    store
        .create_api_key(&key("k2", "alice", 2), "hash2")
        .await
        .unwrap();
    store
        .create_api_key(&key("k3", "bob", 3), "hash3")
        .await
        .unwrap();
    let dup = store.create_api_key(&key("k4", "bob", 4), "hash3").await;
    assert!(matches!(dup, Err(StoreError::Conflict)));
    let ids: Vec<String> = store
        .list_api_keys("alice")
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(ids, ["k2", "k1"], "newest first, only the owner's");
    assert_eq!(
        store.live_api_key_by_hash("hash1").await.unwrap(),
        Some(key("k1", "alice", 1))
    );
    assert!(store.revoke_api_key("k1", 10).await.unwrap());
    assert!(
        !store.revoke_api_key("k1", 11).await.unwrap(),
        "revoking twice"
    );
    assert!(store.live_api_key_by_hash("hash1").await.unwrap().is_none());
    assert_eq!(
        store.api_key_by_id("k1").await.unwrap().unwrap().revoked_at,
        Some(10)
    );
    assert!(store.api_key_by_id("zz").await.unwrap().is_none());
}

async fn rate_buckets_and_quotas(store: Arc<impl MetaStore>) {
    // 1 token per second, burst 3.
    let bucket = RateBucket {
        interval_ms: 1_000,
        tolerance_ms: 2_000,
    };
    let mut allowed = Vec::new();
    for _ in 0..4 {
        allowed.push(
            store
                .take_rate_token("p", bucket, 50_000)
                .await
                .unwrap()
                .allowed,
        );
    }
    assert_eq!(allowed, [true, true, true, false]);
    let refused = store.take_rate_token("p", bucket, 50_500).await.unwrap();
    assert_eq!((refused.allowed, refused.tat), (false, 53_000));
    let later = store.take_rate_token("p", bucket, 51_000).await.unwrap();
    assert_eq!((later.allowed, later.tat), (true, 54_000));
    // Idle long enough, the bucket is full again: a TAT in the past counts as now.
    let idle = store.take_rate_token("p", bucket, 100_000).await.unwrap();
    assert_eq!((idle.allowed, idle.tat), (true, 101_000));
    assert!(
        store
            .take_rate_token("q", bucket, 50_000)
            .await
            .unwrap()
            .allowed,
        "per principal"
    );

    // Several tokens at once: as many as are there, never more than asked.
    let take = |principal: &'static str, now: i64, want: u32| {
        let store = store.clone();
        async move {
            let grant = store
                .take_rate_tokens(principal, bucket, now, want)
                .await
                .unwrap();
            (grant.granted, grant.tat)
        }
    };
    assert_eq!(take("m", 10_000, 2).await, (2, 12_000), "a new bucket");
    assert_eq!(take("m", 10_000, 5).await, (1, 13_000), "only one left");
    assert_eq!(take("m", 10_000, 5).await, (0, 13_000), "empty: unchanged");
    assert_eq!(take("m", 11_500, 5).await, (1, 14_000), "one refilled");
    assert_eq!(
        take("m", 60_000, 10).await,
        (3, 63_000),
        "at most the burst"
    );
    assert_eq!(
        store.take_rate_token("m", bucket, 60_000).await.unwrap(),
        RateDecision {
            allowed: false,
            tat: 63_000
        },
        "single takes share the bucket with leases"
    );

    let windows = vec![
        QuotaWindow {
            period: "day".into(),
            start: 0,
            limit: 2,
        },
        QuotaWindow {
            period: "month".into(),
            start: 0,
            limit: 3,
        },
    ];
    assert_eq!(
        store.consume_quota("p", "process", &windows).await.unwrap(),
        QuotaOutcome::Allowed(vec![1, 1])
    );
    assert_eq!(
        store.consume_quota("p", "process", &windows).await.unwrap(),
        QuotaOutcome::Allowed(vec![2, 2])
    );
    assert_eq!(
        store.consume_quota("p", "process", &windows).await.unwrap(),
        QuotaOutcome::Exceeded(0)
    );
    assert_eq!(
        store.quota_used("p", "process", &windows).await.unwrap(),
        [2, 2],
        "all or nothing"
    );
    // A new day: the month still counts and fills.
    let next_day = vec![
        QuotaWindow {
            period: "day".into(),
            start: 86_400_000,
            limit: 2,
        },
        windows[1].clone(),
    ];
    assert_eq!(
        store
            .consume_quota("p", "process", &next_day)
            .await
            .unwrap(),
        QuotaOutcome::Allowed(vec![1, 3])
    );
    assert_eq!(
        store
            .consume_quota("p", "process", &next_day)
            .await
            .unwrap(),
        QuotaOutcome::Exceeded(1)
    );
    assert_eq!(
        store.quota_used("p", "process", &next_day).await.unwrap(),
        [1, 3]
    );
    assert_eq!(
        store.quota_used("p", "generate", &next_day).await.unwrap(),
        [0, 0]
    );
    let zero = vec![QuotaWindow {
        period: "day".into(),
        start: 0,
        limit: 0,
    }];
    assert_eq!(
        store.consume_quota("z", "edit", &zero).await.unwrap(),
        QuotaOutcome::Exceeded(0)
    );
}

async fn audit_log(store: Arc<impl MetaStore>) {
    for (i, (event, principal)) in [
        ("sign-in-failed", None),
        ("sign-in-succeeded", Some("u1")),
        ("key-created", Some("u2")),
    ]
    .into_iter()
    .enumerate()
    {
        let entry = AuditEvent {
            at: i as i64,
            event: event.to_owned(),
            principal: principal.map(str::to_owned),
            username: Some("a@example.com".into()),
            ip: Some("127.0.0.1".into()),
            user_agent: Some("test".into()),
            request_id: Some(format!("r{i}")),
            detail: None,
        };
        store.record_audit(&entry).await.unwrap();
    }
    let all: Vec<String> = store
        .list_audit(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(all, ["key-created", "sign-in-succeeded", "sign-in-failed"]);
    let mine = store.list_audit(Some("u1"), 10).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].request_id.as_deref(), Some("r1"));
    assert_eq!(store.list_audit(None, 1).await.unwrap().len(), 1);
}

/// Secrets: inserted once, never replaced; listed by prefix (taken literally), oldest
/// first; concurrent `secret_or_insert` calls all get the first insert's value.
fn expected(key: &str, created_at: i64) -> ExpectedUpload {
    ExpectedUpload {
        object: object(Bucket::Uploads, key),
        owner: "alice".to_owned(),
        content_type: "image/png".to_owned(),
        max_bytes: 1_000,
        expires_at: created_at + 900_000,
        state: UploadState::Pending,
        failure: None,
        next_check_at: created_at + 30_000,
        created_at,
    }
}

async fn expected_uploads(store: Arc<impl MetaStore>) {
    let first = expected("uploads/a.png", 1_000);
    store.expect_upload(&first).await.unwrap();
    store
        .expect_upload(&expected("uploads/b.png", 2_000))
        .await
        .unwrap();
    assert_eq!(
        store.get_upload(&first.object).await.unwrap(),
        Some(first.clone())
    );
    assert!(
        store
            .get_upload(&object(Bucket::Uploads, "uploads/none.png"))
            .await
            .unwrap()
            .is_none()
    );
    // Nothing is due before its first check.
    assert!(store.uploads_due(1_500, 10).await.unwrap().is_empty());
    let due = store.uploads_due(40_000, 10).await.unwrap();
    assert_eq!(due.len(), 2);
    assert_eq!(due[0].object, first.object, "oldest first");

    // Many reporters at once: exactly one claim wins.
    let claims = futures::future::join_all((0..8).map(|_| {
        let store = store.clone();
        let at = first.object.clone();
        async move { store.claim_upload(&at, 5_000, 65_000).await.unwrap() }
    }))
    .await;
    assert_eq!(claims.iter().filter(|c| c.is_some()).count(), 1);
    let claimed = claims.into_iter().flatten().next().unwrap();
    assert_eq!(claimed.state, UploadState::Ingesting);
    // A live claim is not due and cannot be taken; one that ran out can.
    assert!(
        store
            .claim_upload(&first.object, 6_000, 66_000)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.uploads_due(40_000, 10).await.unwrap().len(), 1);
    assert_eq!(store.uploads_due(70_000, 10).await.unwrap().len(), 2);
    assert!(
        store
            .claim_upload(&first.object, 70_000, 130_000)
            .await
            .unwrap()
            .is_some()
    );

    // Released: pending again, due from the given time.
    store.release_upload(&first.object, 90_000).await.unwrap();
    let released = store.get_upload(&first.object).await.unwrap().unwrap();
    assert_eq!(
        (released.state, released.next_check_at),
        (UploadState::Pending, 90_000)
    );
    assert!(
        !store
            .uploads_due(80_000, 10)
            .await
            .unwrap()
            .iter()
            .any(|u| u.object == first.object)
    );

    // Settled uploads are never claimed again and keep their refusal.
    store
        .claim_upload(&first.object, 95_000, 155_000)
        .await
        .unwrap()
        .unwrap();
    let refusal = UploadSettled::Failed {
        code: "content-mismatch".to_owned(),
        message: "not a png".to_owned(),
    };
    store
        .settle_upload(&first.object, &refusal, 96_000)
        .await
        .unwrap();
    let failed = store.get_upload(&first.object).await.unwrap().unwrap();
    assert_eq!(failed.state, UploadState::Failed);
    assert_eq!(
        failed.failure,
        Some(("content-mismatch".to_owned(), "not a png".to_owned()))
    );
    assert!(
        store
            .claim_upload(&first.object, 500_000, 560_000)
            .await
            .unwrap()
            .is_none()
    );
    let second = object(Bucket::Uploads, "uploads/b.png");
    store
        .claim_upload(&second, 97_000, 157_000)
        .await
        .unwrap()
        .unwrap();
    store
        .settle_upload(&second, &UploadSettled::Ingested, 200_000)
        .await
        .unwrap();
    assert!(store.uploads_due(10_000_000, 10).await.unwrap().is_empty());

    // Pruning forgets settled uploads older than the cut-off only.
    assert_eq!(store.prune_settled_uploads(100_000).await.unwrap(), 1);
    assert!(store.get_upload(&first.object).await.unwrap().is_none());
    assert!(store.get_upload(&second).await.unwrap().is_some());
}

async fn secrets(store: Arc<impl MetaStore>) {
    let first = store
        .secret_or_insert("signing/1", b"first", 1_000)
        .await
        .unwrap();
    assert_eq!(
        (first.value.as_slice(), first.created_at),
        (&b"first"[..], 1_000)
    );
    let again = store
        .secret_or_insert("signing/1", b"second", 2_000)
        .await
        .unwrap();
    assert_eq!(again, first, "the first insert wins");
    let taken = store.insert_secret("signing/1", b"third", 3_000).await;
    assert!(matches!(taken, Err(StoreError::Conflict)));
    store
        .insert_secret("signing/0", b"older", 500)
        .await
        .unwrap();
    store
        .insert_secret("signingX/9", b"other", 100)
        .await
        .unwrap();
    store
        .insert_secret("sign_%/1", &[0, 255, 7], 200)
        .await
        .unwrap();
    let names = |secrets: Vec<easel_store::StoredSecret>| {
        secrets.into_iter().map(|s| s.name).collect::<Vec<_>>()
    };
    assert_eq!(
        names(store.secrets_with_prefix("signing/").await.unwrap()),
        ["signing/0", "signing/1"],
        "oldest first, the prefix taken literally"
    );
    let odd = store.secrets_with_prefix("sign_%").await.unwrap();
    assert_eq!(odd.len(), 1, "`_` and `%` are not wildcards");
    assert_eq!(odd[0].value, [0, 255, 7], "bytes come back as stored");
    assert_eq!(store.secrets_with_prefix("").await.unwrap().len(), 4);
    assert!(store.delete_secret("signing/0").await.unwrap());
    assert!(!store.delete_secret("signing/0").await.unwrap());
    assert_eq!(
        names(store.secrets_with_prefix("signing/").await.unwrap()),
        ["signing/1"]
    );

    let racers = (0..8u8).map(|i| {
        let store = store.clone();
        async move {
            store
                .secret_or_insert("raced", &[i], 5_000)
                .await
                .unwrap()
                .value
        }
    });
    let values = futures::future::join_all(racers).await;
    assert!(
        values.iter().all(|v| *v == values[0]),
        "one winner: {values:?}"
    );
}

async fn sqlite() -> (tempfile::TempDir, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("easel.db"), Arc::new(Wakeups::default()))
        .await
        .unwrap();
    (dir, Arc::new(store))
}

async fn postgres() -> (pg::Schema, Arc<easel_store::PgStore>) {
    let schema = pg::Schema::new();
    let store = schema.connect(Arc::new(Wakeups::default())).await;
    (schema, Arc::new(store))
}

/// Generates module `$module` with one test per conformance check, each on a fresh
/// store from `$factory` (which returns a guard that cleans up, and the store).
macro_rules! store_tests {
    ($module:ident, $factory:ident) => {
        store_tests!(
            @ $module, $factory,
            create_get_list_and_idempotency,
            claim_complete_and_fencing,
            retries_then_dead,
            backoff_hides_the_job,
            permanent_failure_is_dead_at_once,
            expired_lease_is_reclaimed_then_dead,
            dead_jobs_are_listed_by_code_and_redriven,
            webhook_delivery_log,
            alarm_data,
            account_codes,
            account_email,
            reminders_and_challenges,
            activity_by_kind_and_status,
            cancel_and_release,
            concurrent_claims_are_exclusive,
            batches_claim_oldest_first_and_complete_per_lease,
            concurrent_creates_all_land_once,
            object_metadata,
            users_and_lockout,
            external_principals,
            refresh_rotation_and_reuse,
            api_keys,
            rate_buckets_and_quotas,
            audit_log,
            expiry_and_kind_filters,
            finished_jobs_are_pruned_but_not_live_work_or_kept_history,
            request_log,
            secrets,
            expected_uploads,
        );
    };
    (@ $module:ident, $factory:ident, $($name:ident),* $(,)?) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (_guard, store) = super::$factory().await;
                    super::$name(store).await;
                }
            )*
        }
    };
}

store_tests!(sqlite_store, sqlite);
store_tests!(postgres_store, postgres);

#[tokio::test]
async fn fs_blobs_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    blob_round_trip(Arc::new(ObjectBlobs::filesystem(dir.path()).unwrap())).await;
}

#[tokio::test]
async fn s3_blobs_round_trip() {
    let (store, _) = s3::store();
    blob_round_trip(Arc::new(store.blobs)).await;
}

#[tokio::test]
async fn fs_blobs_sweep_staging_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("uploads/uploads")).unwrap();
    let leftover = dir.path().join("uploads/uploads/a.jpg#3");
    std::fs::write(&leftover, b"half").unwrap();
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7_200);
    std::fs::File::options()
        .write(true)
        .open(&leftover)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    // Another process sharing the directory may be writing this one right now.
    let in_progress = dir.path().join("uploads/uploads/c.jpg#1");
    std::fs::write(&in_progress, b"being written").unwrap();
    let kept = dir.path().join("uploads/uploads/b.jpg");
    std::fs::write(&kept, b"whole").unwrap();
    ObjectBlobs::filesystem(dir.path()).unwrap();
    assert!(!leftover.exists());
    assert!(in_progress.exists());
    assert!(kept.exists());
}

#[tokio::test]
async fn sqlite_reopens_with_data_and_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("easel.db");
    let id = {
        let store = SqliteStore::open(&path, Arc::new(Wakeups::default()))
            .await
            .unwrap();
        store
            .create(new_job("alice", None, "x"))
            .await
            .unwrap()
            .job
            .id
    };
    let store = SqliteStore::open(&path, Arc::new(Wakeups::default()))
        .await
        .unwrap();
    assert_eq!(
        store.get(id).await.unwrap().unwrap().status,
        JobStatus::Pending
    );
    assert!(claim_one(&store, LONG).await.is_some());
}
