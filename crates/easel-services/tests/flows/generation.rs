//! Generation: a regenerated entry runs the client's own request again (the style
//! applied once, a new seed) and counts as new work; deleting an entry removes its
//! outputs.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use easel_core::{Dialect, JobStatus, OpClass, TaskType};
use easel_services::generation::{GenerationInput, spec_of};
use easel_store::{Blobs, StoreError};
use serde_json::{Value, json};

use crate::support::{Setup, World, daily, png};

/// A 64×48 PNG mask, black (edit) in a 16×16 square.
fn mask() -> Vec<u8> {
    let image = image::RgbaImage::from_fn(64, 48, |x, y| {
        let inside = (20..36).contains(&x) && (16..32).contains(&y);
        let v = if inside { 0 } else { 255 };
        image::Rgba([v, v, v, 255])
    });
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, image::ImageFormat::Png).unwrap();
    bytes.into_inner()
}

fn inpainting(text: &str) -> GenerationInput {
    GenerationInput {
        body: json!({
            "taskType": "INPAINTING",
            "inPaintingParams": {
                "image": STANDARD.encode(png(64, 48)),
                "maskImage": STANDARD.encode(mask()),
                "text": text,
            },
            "imageGenerationConfig": { "numberOfImages": 1 },
        }),
        model: None,
        engine: Some("classic".into()),
        engine_preferred: false,
        output_format: None,
        output_quality: None,
        style: Some("anime".into()),
        dialect: Dialect::Native,
        idempotency_key: None,
        callback_url: None,
    }
}

fn stored_text(spec: &easel_core::GenerateSpec) -> &str {
    spec.request["inPaintingParams"]["text"].as_str().unwrap()
}

fn stored_seed(spec: &easel_core::GenerateSpec) -> &Value {
    &spec.request["imageGenerationConfig"]["seed"]
}

#[tokio::test]
async fn regenerating_runs_the_clients_request_again_with_a_new_seed() {
    let world = World::new(Setup {
        quotas: [(OpClass::Edit, daily(5)), (OpClass::Generate, daily(1))].into(),
        ..Setup::default()
    })
    .await;
    let generation = &world.services.generation;
    let context = Default::default();
    let first = generation
        .submit(&world.user, inpainting("a red door"))
        .await
        .unwrap();
    assert_eq!(world.run_jobs().await, 1);
    let (done, spec) = generation
        .entry(&context, &world.user, &first.id.to_string())
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(spec.task_type, TaskType::Inpainting);
    assert_eq!(spec.operation, OpClass::Edit);
    assert_eq!(spec.prompt.as_deref(), Some("a red door"));
    let styled = stored_text(&spec).to_owned();
    assert!(styled.starts_with("a red door, anime style"), "{styled}");

    let again = generation
        .regenerate(
            &context,
            &world.user,
            &first.id.to_string(),
            Some(7),
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert_ne!(again.id, first.id);
    let respec = spec_of(&again).unwrap();
    assert_eq!(respec.prompt.as_deref(), Some("a red door"));
    assert_eq!(
        stored_text(&respec),
        styled,
        "the style applied once, not twice"
    );
    assert_eq!(respec.seed, 7);
    assert_eq!(stored_seed(&respec), &json!(7));
    assert_eq!(respec.style_preset.as_deref(), Some("anime"));
    // Without a seed: a new random one.
    let third = generation
        .regenerate(
            &context,
            &world.user,
            &first.id.to_string(),
            None,
            Duration::ZERO,
        )
        .await
        .unwrap();
    let third_spec = spec_of(&third).unwrap();
    assert_eq!(stored_seed(&third_spec), &json!(third_spec.seed));
    // Edits count as edits, each run once.
    assert_eq!(world.used(OpClass::Edit).await, 3);
    assert_eq!(world.used(OpClass::Generate).await, 0);
    let page = generation.history(&world.user, 10, None).await.unwrap();
    assert_eq!(page.items.len(), 3);
}

#[tokio::test]
async fn invalid_generations_use_no_quota() {
    let world = World::new(Setup {
        quotas: [(OpClass::Edit, daily(1))].into(),
        ..Setup::default()
    })
    .await;
    let generation = &world.services.generation;
    let mut unknown_style = inpainting("x");
    unknown_style.style = Some("nope".into());
    assert!(generation.submit(&world.user, unknown_style).await.is_err());
    let mut empty = inpainting("x");
    empty.body["inPaintingParams"]["maskImage"] = json!("not base64");
    assert!(generation.submit(&world.user, empty).await.is_err());
    assert_eq!(world.used(OpClass::Edit).await, 0);
    generation
        .submit(&world.user, inpainting("x"))
        .await
        .unwrap();
    assert_eq!(world.used(OpClass::Edit).await, 1);
}

#[tokio::test]
async fn deleting_an_entry_removes_its_outputs() {
    let world = World::new(Setup::default()).await;
    let generation = &world.services.generation;
    let context = Default::default();
    let job = generation
        .submit(&world.user, inpainting("x"))
        .await
        .unwrap();
    world.run_jobs().await;
    let id = job.id.to_string();
    let (done, _) = generation.entry(&context, &world.user, &id).await.unwrap();
    let output = done.results[0].output.clone().unwrap().object;
    assert!(world.blobs.get(&output).await.is_ok());
    generation.delete(&context, &world.user, &id).await.unwrap();
    let gone = generation
        .entry(&context, &world.user, &id)
        .await
        .unwrap_err();
    assert_eq!(gone.code(), "history-entry-not-found");
    assert!(matches!(
        world.blobs.get(&output).await,
        Err(StoreError::NotFound)
    ));
}
