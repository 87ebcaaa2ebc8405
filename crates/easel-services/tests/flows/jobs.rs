//! Job submission: only accepted, new work is counted against the quota.

use std::collections::BTreeMap;

use easel_core::{Bucket, IdempotencyKey, JobKind, ObjectKey, ObjectRef, OpClass};
use easel_services::ErrorKind;
use easel_services::jobs::{PipelineChoice, SubmitRequest};
use serde_json::json;

use crate::support::{Setup, World, daily};

fn process(sources: Vec<ObjectRef>, key: Option<&str>) -> SubmitRequest {
    SubmitRequest {
        kind: JobKind::Process,
        sources,
        pipeline: PipelineChoice::Preset("thumbnail".into()),
        metadata: json!({}),
        idempotency_key: key.map(|k| IdempotencyKey::parse(k.as_bytes()).unwrap()),
        callback_url: None,
    }
}

fn missing() -> ObjectRef {
    ObjectRef {
        bucket: Bucket::Uploads,
        key: ObjectKey::parse("uploads/none.png").unwrap(),
    }
}

async fn limited_world(day: u64) -> World {
    World::new(Setup {
        quotas: BTreeMap::from([(OpClass::Process, daily(day))]),
        ..Setup::default()
    })
    .await
}

#[tokio::test]
async fn refused_requests_use_no_quota() {
    let world = limited_world(2).await;
    let jobs = &world.services.jobs;
    for _ in 0..3 {
        let refused = jobs
            .submit(&world.user, process(vec![missing()], None))
            .await;
        let error = refused.unwrap_err();
        assert_eq!(
            (error.kind(), error.code()),
            (ErrorKind::NotFound, "object-not-found")
        );
    }
    let unknown_preset = SubmitRequest {
        pipeline: PipelineChoice::Preset("nope".into()),
        ..process(vec![missing()], None)
    };
    let error = jobs.submit(&world.user, unknown_preset).await.unwrap_err();
    assert_eq!(error.code(), "unknown-preset");
    assert_eq!(world.used(OpClass::Process).await, 0);

    let source = world.upload_png("uploads/a.png", 64, 48).await;
    for _ in 0..2 {
        jobs.submit(&world.user, process(vec![source.clone()], None))
            .await
            .unwrap();
    }
    assert_eq!(world.used(OpClass::Process).await, 2);
    let over = jobs
        .submit(&world.user, process(vec![source], None))
        .await
        .unwrap_err();
    assert_eq!(
        (over.kind(), over.code()),
        (ErrorKind::Limited, "quota-exceeded")
    );
    assert!(
        over.retry_after()
            .is_some_and(|s| (1..=86_400).contains(&s))
    );
    assert_eq!(over.rate().map(|r| (r.limit, r.remaining)), Some((2, 0)));
}

#[tokio::test]
async fn idempotent_replays_are_answered_without_charging() {
    let world = limited_world(2).await;
    let jobs = &world.services.jobs;
    let source = world.upload_png("uploads/a.png", 64, 48).await;
    let first = jobs
        .submit(&world.user, process(vec![source.clone()], Some("k1")))
        .await
        .unwrap();
    assert!(!first.replayed);
    for _ in 0..3 {
        let again = jobs
            .submit(&world.user, process(vec![source.clone()], Some("k1")))
            .await
            .unwrap();
        assert!(again.replayed);
        assert_eq!(again.job.id, first.job.id);
    }
    assert_eq!(world.used(OpClass::Process).await, 1);
    // The same key with another body: refused, and not counted either.
    let other = SubmitRequest {
        pipeline: PipelineChoice::Preset("web".into()),
        ..process(vec![source.clone()], Some("k1"))
    };
    let reused = jobs.submit(&world.user, other).await.unwrap_err();
    assert_eq!(
        (reused.kind(), reused.code()),
        (ErrorKind::Conflict, "idempotency-key-reused")
    );
    assert_eq!(world.used(OpClass::Process).await, 1);
    // Replays are answered even when the quota is used up.
    jobs.submit(&world.user, process(vec![source.clone()], None))
        .await
        .unwrap();
    let replay = jobs
        .submit(&world.user, process(vec![source], Some("k1")))
        .await
        .unwrap();
    assert_eq!(replay.job.id, first.job.id);
}

#[tokio::test]
async fn finished_jobs_are_pruned_after_their_retention() {
    let world = World::new(Setup::default()).await;
    let jobs = &world.services.jobs;
    let noop = || SubmitRequest {
        kind: JobKind::Noop,
        sources: Vec::new(),
        pipeline: PipelineChoice::None,
        metadata: json!({}),
        idempotency_key: None,
        callback_url: None,
    };
    let done = jobs.submit(&world.user, noop()).await.unwrap().job;
    assert_eq!(world.run_jobs().await, 1);
    let waiting = jobs.submit(&world.user, noop()).await.unwrap().job;
    let context = Default::default();
    let now = easel_core::now_millis();
    let day = 86_400_000;
    assert_eq!(
        jobs.prune_finished(now, day).await.unwrap(),
        0,
        "kept a day"
    );
    assert_eq!(jobs.prune_finished(now + 2 * day, day).await.unwrap(), 1);
    let gone = jobs.get(&context, &world.user, &done.id.to_string()).await;
    assert_eq!(gone.unwrap_err().code(), "job-not-found");
    let kept = jobs
        .get(&context, &world.user, &waiting.id.to_string())
        .await;
    assert_eq!(kept.unwrap().status, easel_core::JobStatus::Pending);
}
