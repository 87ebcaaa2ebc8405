//! Ingest: an accepted object is recorded and fires its triggers; every refusal and
//! every failure after the bytes were stored leaves nothing behind.

use easel_core::{OpClass, now_millis};
use easel_image::{Limits, builtin_presets};
use easel_services::ErrorKind;
use easel_services::ingest::TriggerRule;
use easel_store::{Blobs, JobFilter, Jobs, Objects, StoreError};

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
    let (object, rules, stored) = world
        .put_upload("uploads/photos/cat.png", "image/png", png(80, 60))
        .await;
    let ingested = world
        .services
        .ingest
        .arrived(&object, &rules, stored)
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
    let (object, rules, stored) = world
        .put_upload(
            "uploads/fake.png",
            "image/png",
            b"GIF89a not a png".to_vec(),
        )
        .await;
    let error = ingest.arrived(&object, &rules, stored).await.unwrap_err();
    assert_eq!(
        (error.kind(), error.code()),
        (ErrorKind::UnsupportedMedia, "content-mismatch")
    );
    assert_nothing_kept(&world, &object).await;
    // More pixels than the configured limit: refused from the header alone.
    let (object, rules, stored) = world
        .put_upload("uploads/big.png", "image/png", png(200, 100))
        .await;
    let error = ingest.arrived(&object, &rules, stored).await.unwrap_err();
    assert_eq!(
        (error.kind(), error.code()),
        (ErrorKind::Unprocessable, "image-too-large")
    );
    assert!(error.message().contains("10000"), "{}", error.message());
    assert_nothing_kept(&world, &object).await;
    // A truncated image.
    let mut truncated = png(50, 50);
    truncated.truncate(20);
    let (object, rules, stored) = world
        .put_upload("uploads/cut.png", "image/png", truncated)
        .await;
    let error = ingest.arrived(&object, &rules, stored).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unprocessable, "{error}");
    assert_nothing_kept(&world, &object).await;
}

#[tokio::test]
async fn a_failed_metadata_write_deletes_the_bytes_and_asks_to_retry() {
    let world = World::new(Setup {
        objects: |store| std::sync::Arc::new(FailingWrites(store)),
        ..Setup::default()
    })
    .await;
    let (object, rules, stored) = world
        .put_upload("uploads/a.png", "image/png", png(10, 10))
        .await;
    let error = world
        .services
        .ingest
        .arrived(&object, &rules, stored)
        .await
        .unwrap_err();
    assert_eq!(
        (error.kind(), error.code()),
        (ErrorKind::Unavailable, "store-unavailable")
    );
    assert_eq!(error.retry_after(), Some(1));
    assert_nothing_kept(&world, &object).await;
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
        let (object, rules, stored) = world.put_upload(key, declared, bytes).await;
        let ingested = world.services.ingest.arrived(&object, &rules, stored).await;
        assert_eq!(
            ingested.unwrap().dimensions,
            (48, 32),
            "{key} as {declared}"
        );
    }
    // AVIF is not in the HEIC family.
    let (object, rules, stored) = world.put_upload("uploads/d.heic", "image/heic", avif).await;
    let error = world
        .services
        .ingest
        .arrived(&object, &rules, stored)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "content-mismatch");
    assert_nothing_kept(&world, &object).await;
}
