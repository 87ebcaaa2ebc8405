//! Ingest: an accepted object is recorded and fires its triggers; every refusal and
//! every failure after the bytes were stored leaves nothing behind.

use easel_core::{OpClass, now_millis};
use easel_image::{Limits, builtin_presets};
use easel_services::ErrorKind;
use easel_services::ingest::TriggerRule;
use easel_store::{Blobs, JobFilter, Jobs, Objects, StoreError, UploadState, Uploads};

use crate::support::{FailingWrites, Setup, World, daily, png};

async fn assert_nothing_kept(world: &World, object: &easel_core::ObjectRef) {
    assert!(matches!(
        world.blobs.get(object).await,
        Err(StoreError::NotFound)
    ));
    assert!(world.store.get_object(object).await.unwrap().is_none());
}

#[tokio::test]
async fn an_accepted_upload_is_recorded_and_fires_its_triggers_uncharged() {
    let world = World::new(Setup {
        quotas: [(OpClass::Process, daily(1))].into(),
        triggers: vec![TriggerRule {
            prefix: "uploads/photos/".into(),
            preset: Some("thumbnail".into()),
            pipeline: builtin_presets()["thumbnail"].clone(),
        }],
        ..Setup::default()
    })
    .await;
    let (object, _, _) = world
        .put_upload("uploads/photos/cat.png", "image/png", png(80, 60))
        .await;
    let ingested = world
        .services
        .ingest
        .complete(&world.user, &object)
        .await
        .unwrap();
    assert_eq!(ingested.dimensions, (80, 60));
    assert_eq!(ingested.triggered_jobs.len(), 1);
    let meta = world.store.get_object(&object).await.unwrap().unwrap();
    assert_eq!(meta.owner, world.user.id);
    assert_eq!(meta.dimensions, Some((80, 60)));
    assert!(meta.created_at <= now_millis());
    // The upload was the request: its trigger's job is not counted.
    assert_eq!(world.used(OpClass::Process).await, 0);
    // Outside the prefix: no trigger.
    let other = world.upload_png("uploads/other.png", 8, 8).await;
    let jobs = world
        .store
        .list(&JobFilter {
            limit: 10,
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1, "{other:?} fired nothing");
}

#[tokio::test]
async fn refused_uploads_are_deleted() {
    let world = World::new(Setup {
        limits: Limits {
            max_pixels: 10_000,
            ..Limits::default()
        },
        ..Setup::default()
    })
    .await;
    let ingest = &world.services.ingest;
    // Not the declared type.
    let (object, _, _) = world
        .put_upload(
            "uploads/fake.png",
            "image/png",
            b"GIF89a not a png".to_vec(),
        )
        .await;
    let error = ingest.complete(&world.user, &object).await.unwrap_err();
    assert_eq!(
        (error.kind(), error.code()),
        (ErrorKind::UnsupportedMedia, "content-mismatch")
    );
    assert_nothing_kept(&world, &object).await;
    // More pixels than the configured limit: refused from the header alone.
    let (object, _, _) = world
        .put_upload("uploads/big.png", "image/png", png(200, 100))
        .await;
    let error = ingest.complete(&world.user, &object).await.unwrap_err();
    assert_eq!(
        (error.kind(), error.code()),
        (ErrorKind::Unprocessable, "image-too-large")
    );
    assert!(error.message().contains("10000"), "{}", error.message());
    assert_nothing_kept(&world, &object).await;
    // A truncated image.
    let mut truncated = png(50, 50);
    truncated.truncate(20);
    let (object, _, _) = world
        .put_upload("uploads/cut.png", "image/png", truncated)
        .await;
    let error = ingest.complete(&world.user, &object).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unprocessable, "{error}");
    assert_nothing_kept(&world, &object).await;
}

#[tokio::test]
async fn a_failed_metadata_write_asks_to_retry_and_keeps_the_upload_for_it() {
    let world = World::new(Setup {
        objects: |store| std::sync::Arc::new(FailingWrites(store)),
        ..Setup::default()
    })
    .await;
    let (object, _, _) = world
        .put_upload("uploads/a.png", "image/png", png(10, 10))
        .await;
    let error = world
        .services
        .ingest
        .complete(&world.user, &object)
        .await
        .unwrap_err();
    assert_eq!(
        (error.kind(), error.code()),
        (ErrorKind::Unavailable, "store-unavailable")
    );
    assert_eq!(error.retry_after(), Some(1));
    // Nothing recorded, nothing lost: the bytes stay and the upload is pending again,
    // for the client's retry or the reconciler.
    assert!(world.store.get_object(&object).await.unwrap().is_none());
    assert!(world.blobs.get(&object).await.is_ok());
    let upload = world.store.get_upload(&object).await.unwrap().unwrap();
    assert_eq!(upload.state, UploadState::Pending);
}

#[tokio::test]
async fn every_report_of_one_upload_gets_the_same_answer_and_triggers_fire_once() {
    let world = World::new(Setup {
        triggers: vec![TriggerRule {
            prefix: "uploads/photos/".into(),
            preset: Some("thumbnail".into()),
            pipeline: builtin_presets()["thumbnail"].clone(),
        }],
        ..Setup::default()
    })
    .await;
    let ingest = &world.services.ingest;
    let (object, _, _) = world
        .put_upload("uploads/photos/cat.png", "image/png", png(30, 20))
        .await;
    // The client, the reconciler and a late client retry all report it.
    let first = ingest.complete(&world.user, &object).await.unwrap();
    assert_eq!(first.triggered_jobs.len(), 1);
    let reconciled = ingest.reconcile().await.unwrap();
    assert_eq!(
        reconciled.ingested, 0,
        "nothing was left for the reconciler"
    );
    let again = ingest.complete(&world.user, &object).await.unwrap();
    assert_eq!(again.meta, first.meta);
    assert!(again.triggered_jobs.is_empty());
    let jobs = world
        .store
        .list(&JobFilter {
            limit: 10,
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1, "one trigger job, whoever reported");
    // A refused upload answers its refusal again, and keeps answering it.
    let (bad, _, _) = world
        .put_upload("uploads/photos/bad.png", "image/png", b"not a png".to_vec())
        .await;
    for _ in 0..2 {
        let error = ingest.complete(&world.user, &bad).await.unwrap_err();
        assert_eq!(error.code(), "content-mismatch");
    }
    assert_nothing_kept(&world, &bad).await;
}

#[tokio::test]
async fn reports_are_refused_for_uploads_that_are_not_the_callers_or_not_there_yet() {
    let world = World::new(Setup::default()).await;
    let ingest = &world.services.ingest;
    let (object, _, _) = world
        .put_upload("uploads/mine.png", "image/png", png(10, 10))
        .await;
    let stranger = easel_core::Principal {
        id: "someone-else".into(),
        admin: false,
    };
    let error = ingest.complete(&stranger, &object).await.unwrap_err();
    assert_eq!(error.code(), "upload-not-found");
    assert!(world.store.get_object(&object).await.unwrap().is_none());
    // Expected but not stored: the client is told to PUT first; the reconciler waits.
    world.blobs.delete(&object).await.unwrap();
    let error = ingest.complete(&world.user, &object).await.unwrap_err();
    assert_eq!(
        (error.kind(), error.code()),
        (ErrorKind::Conflict, "upload-not-arrived")
    );
    let upload = world.store.get_upload(&object).await.unwrap().unwrap();
    assert_eq!(upload.state, UploadState::Pending);
    assert!(upload.next_check_at > now_millis(), "looked at again later");
}

/// `png` re-encoded as HEIC by libheif's `heif-enc` (installed by scripts/install-deps).
fn heic(png: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in.png"), dir.path().join("out.heic"));
    std::fs::write(&input, png).unwrap();
    let status = std::process::Command::new("heif-enc")
        .arg("-o")
        .args([&output, &input])
        .status()
        .expect("heif-enc (scripts/install-deps installs it)");
    assert!(status.success());
    std::fs::read(output).unwrap()
}

#[tokio::test]
async fn heic_and_avif_uploads_are_accepted_heic_under_either_heif_label() {
    let world = World::new(Setup::default()).await;
    let pixels = image::RgbaImage::from_pixel(48, 32, image::Rgba([200, 90, 40, 255]));
    let avif = easel_image::encode_rgba(
        &pixels,
        easel_image::Format::Avif,
        &easel_image::OutputOptions::default(),
    )
    .unwrap();
    let heic = heic(&png(48, 32));
    let accepted = [
        ("uploads/a.avif", "image/avif", avif.clone()),
        ("uploads/b.heic", "image/heic", heic.clone()),
        ("uploads/c.heif", "image/heif", heic),
    ];
    for (key, declared, bytes) in accepted {
        let (object, _, _) = world.put_upload(key, declared, bytes).await;
        let ingested = world.services.ingest.complete(&world.user, &object).await;
        assert_eq!(
            ingested.unwrap().dimensions,
            (48, 32),
            "{key} as {declared}"
        );
    }
    // AVIF is not in the HEIC family.
    let (object, _, _) = world.put_upload("uploads/d.heic", "image/heic", avif).await;
    let error = world
        .services
        .ingest
        .complete(&world.user, &object)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "content-mismatch");
    assert_nothing_kept(&world, &object).await;
}
