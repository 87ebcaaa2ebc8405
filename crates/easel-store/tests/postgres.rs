//! What only PostgreSQL needs checking, beyond the conformance suite: several processes
//! (two `PgStore`s on one schema stand for two processes) migrating at once, a schema
//! newer than the binary, wake-ups that cross processes and survive a lost connection,
//! claims shared between processes, shared secrets, and connection errors.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use easel_core::{JobId, JobKind};
use easel_store::{
    Completion, Jobs, NewJob, PgOptions, PgStore, Queue, Secrets, StoreError, Wakeups,
};
use sqlx::{AssertSqlSafe, Executor, Row};
use tokio::time::timeout;

#[path = "support/pg.rs"]
mod pg;

/// Longest wait for a notification that should arrive at once.
const SOON: Duration = Duration::from_secs(5);

fn new_job(owner: &str) -> NewJob {
    NewJob {
        id: JobId::new(),
        owner: owner.to_owned(),
        kind: JobKind::Noop,
        spec: serde_json::json!({}),
        image_count: 1,
        max_attempts: 3,
        idempotency_key: None,
        request_hash: "hash".to_owned(),
        expires_at: None,
    }
}

/// The schema's recorded migration versions, in order.
async fn versions(schema: &pg::Schema) -> Vec<i32> {
    let sql = format!(
        "SELECT version FROM \"{}\".schema_migrations ORDER BY version",
        schema.name()
    );
    let rows = schema
        .admin()
        .await
        .fetch_all(AssertSqlSafe(sql))
        .await
        .unwrap();
    rows.iter().map(|row| row.get(0)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_processes_migrate_once() {
    let schema = pg::Schema::new();
    let starts = (0..4).map(|_| schema.connect(Arc::new(Wakeups::default())));
    let stores = futures::future::join_all(starts).await;
    assert_eq!(stores.len(), 4, "every process started");
    let migrated = PgOptions::new(schema.url())
        .schema(schema.name())
        .migrate()
        .await
        .unwrap();
    assert_eq!(migrated.from, migrated.to, "nothing was left to migrate");
    let expected: Vec<i32> = (1..=migrated.to as i32).collect();
    assert_eq!(versions(&schema).await, expected, "each migration ran once");
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let schema = pg::Schema::new();
    drop(schema.connect(Arc::new(Wakeups::default())).await);
    let supported = versions(&schema).await.len() as u32;
    let sql = format!(
        "INSERT INTO \"{}\".schema_migrations (version, applied_at) VALUES ({}, 0)",
        schema.name(),
        supported + 1
    );
    schema
        .admin()
        .await
        .execute(AssertSqlSafe(sql))
        .await
        .unwrap();
    let refused =
        PgStore::connect_in_schema(schema.url(), schema.name(), Arc::new(Wakeups::default())).await;
    let Err(StoreError::SchemaTooNew {
        found,
        supported: known,
    }) = refused
    else {
        panic!(
            "a newer schema must be refused, got {:?}",
            refused.map(|_| ())
        );
    };
    assert_eq!((found, known), (supported + 1, supported));
    let options = PgOptions::new(schema.url()).schema(schema.name());
    assert!(matches!(
        options.migrate().await,
        Err(StoreError::SchemaTooNew { .. })
    ));
}

#[tokio::test]
async fn connection_errors_carry_the_drivers_message() {
    let refused = PgStore::connect("postgres://postgres@127.0.0.1:1/test", Arc::default()).await;
    let Err(error @ StoreError::Database(_)) = refused else {
        panic!("expected a database error, got {:?}", refused.map(|_| ()));
    };
    assert!(error.to_string().starts_with("database error: "), "{error}");
    let missing = format!("{}_no_such_db", pg::database_url());
    let Err(error @ StoreError::Database(_)) = PgStore::connect(&missing, Arc::default()).await
    else {
        panic!("expected a database error for a missing database");
    };
    assert!(error.to_string().contains("_no_such_db"), "{error}");
    let url = pg::database_url();
    let bad_schema = PgStore::connect_in_schema(&url, "Bad-Name", Arc::default()).await;
    assert!(matches!(bad_schema, Err(StoreError::Database(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_in_one_process_wakes_another() {
    let schema = pg::Schema::new();
    let watched = Arc::new(Wakeups::default());
    let _listener = schema.connect(watched.clone()).await;
    let writer = schema.connect(Arc::new(Wakeups::default())).await;
    let mut changes = watched.subscribe();

    let enqueued = watched.wait_enqueued();
    let id = writer.create(new_job("alice")).await.unwrap().job.id;
    timeout(SOON, enqueued)
        .await
        .expect("a job created elsewhere wakes this process's workers");

    let claim = writer.claim(Duration::from_secs(60), 1).await.unwrap();
    assert_eq!(claim.len(), 1);
    assert_eq!(next_change(&mut changes).await, id, "the claim");
    let completion = Completion {
        lease: claim[0].lease.clone(),
        results: vec![],
    };
    assert_eq!(writer.complete(&[completion]).await.unwrap(), [true]);
    assert_eq!(next_change(&mut changes).await, id, "the completion");
}

async fn next_change(changes: &mut tokio::sync::broadcast::Receiver<JobId>) -> JobId {
    timeout(SOON, changes.recv())
        .await
        .expect("a change notification in time")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_resume_after_the_listener_connection_drops() {
    let schema = pg::Schema::new();
    let watched = Arc::new(Wakeups::default());
    let _listener = schema.connect(watched.clone()).await;
    let writer = schema.connect(Arc::new(Wakeups::default())).await;
    let mut admin = schema.admin().await;
    let listening = format!(
        "SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN \"easel_jobs.{}\"%'",
        schema.name()
    );
    let old: i32 = admin
        .fetch_one(AssertSqlSafe(listening.clone()))
        .await
        .unwrap()
        .get(0);
    let kill = format!("SELECT pg_terminate_backend({old})");
    admin.execute(AssertSqlSafe(kill)).await.unwrap();

    // Wait for the listener to be back on a new connection, then expect its signals.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let pids = admin
            .fetch_all(AssertSqlSafe(listening.clone()))
            .await
            .unwrap();
        if pids.iter().any(|row| row.get::<i32, _>(0) != old) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the listener never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut changes = watched.subscribe();
    let id = writer.create(new_job("alice")).await.unwrap().job.id;
    writer.claim(Duration::from_secs(60), 1).await.unwrap();
    assert_eq!(next_change(&mut changes).await, id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_share_the_queue_without_double_claims() {
    let schema = pg::Schema::new();
    let first = Arc::new(schema.connect(Arc::default()).await);
    let second = Arc::new(schema.connect(Arc::default()).await);
    let mut ids = HashSet::new();
    for _ in 0..60 {
        ids.insert(first.create(new_job("alice")).await.unwrap().job.id);
    }
    let workers = [first, second].into_iter().map(|store| {
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claims = store.claim(Duration::from_secs(60), 4).await.unwrap();
                if claims.is_empty() {
                    return mine;
                }
                let completions: Vec<Completion> = claims
                    .iter()
                    .map(|c| Completion {
                        lease: c.lease.clone(),
                        results: vec![],
                    })
                    .collect();
                assert!(
                    store
                        .complete(&completions)
                        .await
                        .unwrap()
                        .iter()
                        .all(|ok| *ok)
                );
                mine.extend(claims.iter().map(|c| c.job.id));
            }
        })
    });
    let mut seen = Vec::new();
    for worker in workers {
        seen.extend(worker.await.unwrap());
    }
    assert_eq!(seen.len(), 60, "every job claimed exactly once");
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_racing_for_a_secret_agree() {
    let schema = pg::Schema::new();
    let first = Arc::new(schema.connect(Arc::default()).await);
    let second = Arc::new(schema.connect(Arc::default()).await);
    for round in 0..5 {
        let name = format!("key/{round}");
        let racers = (0..6u8).map(|i| {
            let store = if i % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            let name = name.clone();
            async move { store.secret_or_insert(&name, &[i], 1).await.unwrap() }
        });
        let won = futures::future::join_all(racers).await;
        assert!(won.iter().all(|s| *s == won[0]), "round {round}: {won:?}");
    }
}
