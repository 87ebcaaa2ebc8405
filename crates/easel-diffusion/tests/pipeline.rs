//! The diffusion pipeline on tiny random-weight models written in the diffusers layout
//! and loaded through the real loader; and, when `EASEL_MODEL_DIR` points at a real
//! model, a real generation.

use std::path::Path;

use candle_core::Device;
use easel_diffusion::tiny::{write_tiny_model, write_tiny_xl_model};
use easel_diffusion::{DiffusionError, Family, Job, Mode, ModelFiles, Pipeline, PipelineKind};
use image::{GrayImage, Luma, RgbImage};

/// Writes a tiny model: [`write_tiny_model`] or [`write_tiny_xl_model`].
type Writer = fn(&Path, PipelineKind, &str) -> std::io::Result<()>;

fn load_tiny(write: Writer, dir: &Path, kind: PipelineKind, scheduler: &str) -> Pipeline {
    write(dir, kind, scheduler).unwrap();
    let files = ModelFiles::open(dir, "tiny").unwrap();
    Pipeline::load(&files, &Device::Cpu).unwrap()
}

fn tiny(dir: &Path, kind: PipelineKind, scheduler: &str) -> Pipeline {
    load_tiny(write_tiny_model, dir, kind, scheduler)
}

fn job(seed: u64, steps: usize, mode: Mode) -> Job {
    Job {
        prompt: "a cat on the mat".to_owned(),
        negative: "blurry".to_owned(),
        width: 64,
        height: 48,
        steps,
        guidance: 0.0,
        seed,
        mode,
    }
}

fn run(pipeline: &Pipeline, job: &Job) -> RgbImage {
    pipeline.generate(job, &mut |_, _| true).unwrap()
}

fn photo(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 5) as u8, ((x + y) * 2) as u8])
    })
}

#[test]
fn text_to_image_is_deterministic_per_seed_and_sized_as_asked() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = tiny(
        dir.path(),
        PipelineKind::TextToImage,
        "EulerAncestralDiscreteScheduler",
    );
    assert_eq!(pipeline.size_multiple(), 8);
    let a = run(&pipeline, &job(42, 2, Mode::TextToImage));
    assert_eq!(a.dimensions(), (64, 48));
    let again = run(&pipeline, &job(42, 2, Mode::TextToImage));
    assert_eq!(a, again, "the same seed and parameters give the same image");
    let other = run(&pipeline, &job(43, 2, Mode::TextToImage));
    assert_ne!(a, other, "another seed gives another image");
    // Guidance runs the negative prompt too and changes the result.
    let guided = run(
        &pipeline,
        &Job {
            guidance: 5.0,
            ..job(42, 2, Mode::TextToImage)
        },
    );
    assert_ne!(a, guided);
}

#[test]
fn every_sampler_runs_and_reports_each_step() {
    for scheduler in [
        "EulerAncestralDiscreteScheduler",
        "EulerDiscreteScheduler",
        "DDIMScheduler",
        "PNDMScheduler",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let pipeline = tiny(dir.path(), PipelineKind::TextToImage, scheduler);
        let mut seen = Vec::new();
        let image = pipeline
            .generate(&job(1, 3, Mode::TextToImage), &mut |done, total| {
                seen.push((done, total));
                true
            })
            .unwrap();
        assert_eq!(image.dimensions(), (64, 48), "{scheduler}");
        assert_eq!(seen, vec![(1, 3), (2, 3), (3, 3)], "{scheduler}");
    }
}

#[test]
fn cancellation_stops_within_one_step() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = tiny(
        dir.path(),
        PipelineKind::TextToImage,
        "EulerDiscreteScheduler",
    );
    let mut calls = 0;
    let result = pipeline.generate(&job(1, 10, Mode::TextToImage), &mut |_, _| {
        calls += 1;
        false
    });
    assert!(
        matches!(result, Err(DiffusionError::Cancelled)),
        "{result:?}"
    );
    assert_eq!(
        calls, 1,
        "no step runs after the one that saw the cancellation"
    );
}

#[test]
fn image_to_image_runs_the_last_part_of_the_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = tiny(
        dir.path(),
        PipelineKind::TextToImage,
        "EulerAncestralDiscreteScheduler",
    );
    let mode = Mode::ImageToImage {
        image: photo(64, 48),
        strength: 0.5,
    };
    let mut steps = 0;
    let out = pipeline
        .generate(&job(3, 8, mode.clone()), &mut |_, total| {
            steps += 1;
            assert_eq!(total, 4);
            true
        })
        .unwrap();
    assert_eq!(steps, 4);
    assert_eq!(out, run(&pipeline, &job(3, 8, mode)), "deterministic");
    let none = pipeline.generate(
        &job(
            3,
            2,
            Mode::ImageToImage {
                image: photo(64, 48),
                strength: 0.2,
            },
        ),
        &mut |_, _| true,
    );
    assert!(
        matches!(none, Err(DiffusionError::InvalidInput(_))),
        "{none:?}"
    );
}

fn check_inpainting(write: Writer, kind: PipelineKind) {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = load_tiny(write, dir.path(), kind, "EulerAncestralDiscreteScheduler");
    let original = photo(64, 48);
    // Regenerate a 24×16 block; keep the rest.
    let mask = GrayImage::from_fn(64, 48, |x, y| {
        Luma([if (20..44).contains(&x) && (16..32).contains(&y) {
            255
        } else {
            0
        }])
    });
    let out = run(
        &pipeline,
        &job(
            9,
            2,
            Mode::Inpaint {
                image: original.clone(),
                mask: mask.clone(),
            },
        ),
    );
    let mut changed = 0;
    for (x, y, pixel) in out.enumerate_pixels() {
        if mask.get_pixel(x, y).0[0] == 0 {
            assert_eq!(
                pixel,
                original.get_pixel(x, y),
                "{kind:?}: kept pixel ({x},{y}) changed"
            );
        } else if pixel != original.get_pixel(x, y) {
            changed += 1;
        }
    }
    assert!(
        changed > 24 * 16 / 2,
        "{kind:?}: only {changed} masked pixels changed"
    );
}

#[test]
fn inpainting_with_an_inpainting_unet_keeps_unmasked_pixels() {
    check_inpainting(write_tiny_model, PipelineKind::Inpaint);
}

#[test]
fn inpainting_with_a_plain_unet_keeps_unmasked_pixels() {
    check_inpainting(write_tiny_model, PipelineKind::TextToImage);
}

#[test]
fn sdxl_inpainting_keeps_unmasked_pixels_with_either_unet() {
    check_inpainting(write_tiny_xl_model, PipelineKind::Inpaint);
    check_inpainting(write_tiny_xl_model, PipelineKind::TextToImage);
}

#[test]
fn sdxl_generates_deterministically_and_honours_the_negative_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = load_tiny(
        write_tiny_xl_model,
        dir.path(),
        PipelineKind::TextToImage,
        "EulerAncestralDiscreteScheduler",
    );
    assert_eq!(pipeline.family(), Family::StableDiffusionXl);
    let a = run(&pipeline, &job(42, 2, Mode::TextToImage));
    assert_eq!(a.dimensions(), (64, 48));
    assert_eq!(a, run(&pipeline, &job(42, 2, Mode::TextToImage)));
    assert_ne!(a, run(&pipeline, &job(43, 2, Mode::TextToImage)));
    let guided = |negative: &str| {
        run(
            &pipeline,
            &Job {
                guidance: 5.0,
                negative: negative.to_owned(),
                ..job(42, 2, Mode::TextToImage)
            },
        )
    };
    // With guidance, a negative prompt steers; an empty one conditions on zeros (not on
    // the encoded empty text), which steers differently again.
    let (blurry, empty) = (guided("blurry"), guided(""));
    assert_ne!(blurry, a);
    assert_ne!(blurry, empty);
    assert_ne!(empty, a);
    // Image-to-image runs too.
    let variation = run(
        &pipeline,
        &job(
            42,
            4,
            Mode::ImageToImage {
                image: photo(64, 48),
                strength: 0.5,
            },
        ),
    );
    assert_eq!(variation.dimensions(), (64, 48));
}

#[test]
fn an_sdxl_model_without_its_second_encoder_says_which_files_are_missing() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_xl_model(
        dir.path(),
        PipelineKind::TextToImage,
        "EulerDiscreteScheduler",
    )
    .unwrap();
    std::fs::remove_file(dir.path().join("text_encoder_2/model.safetensors")).unwrap();
    std::fs::remove_dir_all(dir.path().join("tokenizer_2")).unwrap();
    let message = ModelFiles::open(dir.path(), "sdxl-turbo")
        .unwrap_err()
        .to_string();
    assert!(
        message.contains(
            "text_encoder_2/model.safetensors, tokenizer_2/merges.txt (or \
             tokenizer_2/tokenizer.json), tokenizer_2/vocab.json (or tokenizer_2/tokenizer.json)"
        ),
        "{message}"
    );
    assert!(
        message.contains("easel models pull sdxl-turbo"),
        "{message}"
    );
}

/// The error loading a tiny model (written by `write`) gives once `key` of its
/// `unet/config.json` is set to `value`, which must be a bad model's.
fn bad_unet_config(write: Writer, key: &str, value: serde_json::Value) -> String {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        PipelineKind::TextToImage,
        "EulerDiscreteScheduler",
    )
    .unwrap();
    let path = dir.path().join("unet/config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    config[key] = value;
    std::fs::write(&path, config.to_string()).unwrap();
    let files = ModelFiles::open(dir.path(), "tiny").unwrap();
    match Pipeline::load(&files, &Device::Cpu) {
        Err(error @ DiffusionError::BadModel { .. }) => error.to_string(),
        Err(other) => panic!("{key}: not a bad model: {other}"),
        Ok(_) => panic!("{key}: loaded"),
    }
}

#[test]
fn an_sdxl_model_whose_parts_do_not_fit_is_a_bad_model() {
    // The UNet expects wider text than the two encoders give.
    let message = bad_unet_config(
        write_tiny_xl_model,
        "cross_attention_dim",
        serde_json::json!(96),
    );
    assert!(
        message.contains("cross_attention_dim 96 but the text encoders give 32 + 32 = 64"),
        "{message}"
    );
}

#[test]
fn unet_conditioning_easel_does_not_apply_is_refused() {
    for (key, value, said) in [
        (
            "time_cond_proj_dim",
            serde_json::json!(256),
            "time_cond_proj_dim 256",
        ),
        (
            "class_embed_type",
            serde_json::json!("timestep"),
            "class_embed_type `timestep`",
        ),
    ] {
        let message = bad_unet_config(write_tiny_model, key, value);
        assert!(message.contains(said), "{message}");
    }
}

#[test]
fn sizes_must_fit_the_autoencoder() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = tiny(
        dir.path(),
        PipelineKind::TextToImage,
        "EulerDiscreteScheduler",
    );
    let bad = pipeline.generate(
        &Job {
            width: 60,
            ..job(1, 1, Mode::TextToImage)
        },
        &mut |_, _| true,
    );
    let Err(DiffusionError::InvalidInput(message)) = bad else {
        panic!("{bad:?}")
    };
    assert!(message.contains("multiples of 8"), "{message}");
}

#[test]
fn a_truncated_weight_file_is_a_bad_model_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(
        dir.path(),
        PipelineKind::TextToImage,
        "EulerDiscreteScheduler",
    )
    .unwrap();
    let path = dir.path().join("vae/diffusion_pytorch_model.safetensors");
    let whole = std::fs::read(&path).unwrap();
    std::fs::write(&path, &whole[..whole.len() / 2]).unwrap();
    let files = ModelFiles::open(dir.path(), "tiny").unwrap();
    let error = Pipeline::load(&files, &Device::Cpu)
        .err()
        .expect("a load error");
    assert!(
        matches!(error, DiffusionError::BadModel { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("vae/diffusion_pytorch_model.safetensors"),
        "{message}"
    );
    assert!(message.contains("bad data offsets"), "{message}");
}

#[test]
fn a_missing_file_is_named_with_how_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(
        dir.path(),
        PipelineKind::TextToImage,
        "EulerDiscreteScheduler",
    )
    .unwrap();
    std::fs::remove_file(dir.path().join("unet/diffusion_pytorch_model.safetensors")).unwrap();
    std::fs::remove_file(dir.path().join("tokenizer/merges.txt")).unwrap();
    let error = ModelFiles::open(dir.path(), "sd-turbo").unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains(
            "tokenizer/merges.txt (or tokenizer/tokenizer.json), unet/diffusion_pytorch_model.safetensors"
        ),
        "{message}"
    );
    assert!(message.contains("easel models pull sd-turbo"), "{message}");
    assert!(!message.contains(".bin"), "{message}");

    // A PyTorch checkpoint where safetensors belong is called out.
    std::fs::write(
        dir.path().join("unet/diffusion_pytorch_model.bin"),
        b"pickle",
    )
    .unwrap();
    let message = ModelFiles::open(dir.path(), "sd-turbo")
        .unwrap_err()
        .to_string();
    assert!(message.contains("only PyTorch .bin weights"), "{message}");
}

#[test]
fn the_fp16_weight_variant_loads_too() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(
        dir.path(),
        PipelineKind::TextToImage,
        "EulerDiscreteScheduler",
    )
    .unwrap();
    // Half-precision weights under the variant name, as the hub ships them.
    let unet = dir.path().join("unet/diffusion_pytorch_model.safetensors");
    let half: std::collections::HashMap<String, candle_core::Tensor> =
        candle_core::safetensors::load(&unet, &Device::Cpu)
            .unwrap()
            .into_iter()
            .map(|(name, t)| (name, t.to_dtype(candle_core::DType::F16).unwrap()))
            .collect();
    std::fs::remove_file(&unet).unwrap();
    let fp16 = dir
        .path()
        .join("unet/diffusion_pytorch_model.fp16.safetensors");
    candle_core::safetensors::save(&half, &fp16).unwrap();
    let files = ModelFiles::open(dir.path(), "tiny").unwrap();
    assert!(
        files
            .unet_weights
            .ends_with("diffusion_pytorch_model.fp16.safetensors")
    );
    let pipeline = Pipeline::load(&files, &Device::Cpu).unwrap();
    assert_eq!(
        run(&pipeline, &job(5, 1, Mode::TextToImage)).dimensions(),
        (64, 48)
    );
}

#[test]
fn unsupported_pipelines_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(
        dir.path(),
        PipelineKind::TextToImage,
        "EulerDiscreteScheduler",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("model_index.json"),
        r#"{"_class_name": "StableDiffusion3Pipeline"}"#,
    )
    .unwrap();
    let message = ModelFiles::open(dir.path(), "sd3").unwrap_err().to_string();
    assert!(message.contains("`StableDiffusion3Pipeline`"), "{message}");
    assert!(message.contains("StableDiffusionXLPipeline"), "{message}");

    // The SDXL refiner (aesthetic-score conditioning, no first text encoder) is named as
    // such rather than reported as missing files.
    std::fs::write(
        dir.path().join("model_index.json"),
        r#"{"_class_name": "StableDiffusionXLImg2ImgPipeline", "requires_aesthetics_score": true}"#,
    )
    .unwrap();
    let message = ModelFiles::open(dir.path(), "refiner")
        .unwrap_err()
        .to_string();
    assert!(message.contains("SDXL refiner"), "{message}");
}

/// With `EASEL_MODEL_DIR` set to a real diffusers model (e.g. after
/// `easel models pull sd-turbo`), a real 512×512 image: not flat, not noise-saturated.
#[test]
fn real_weights_when_available() {
    let Ok(dir) = std::env::var("EASEL_MODEL_DIR") else {
        eprintln!("EASEL_MODEL_DIR is not set: skipping the real-weights check");
        return;
    };
    let files = ModelFiles::open(Path::new(&dir), "real").unwrap();
    let pipeline = Pipeline::load(&files, &Device::Cpu).unwrap();
    let image = run(
        &pipeline,
        &Job {
            prompt: "a photo of a red apple on a wooden table".to_owned(),
            negative: String::new(),
            width: 512,
            height: 512,
            steps: 1,
            guidance: 0.0,
            seed: 1,
            mode: Mode::TextToImage,
        },
    );
    let values: Vec<f64> = image.as_raw().iter().map(|&v| f64::from(v)).collect();
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt();
    assert!(
        (20.0..235.0).contains(&mean) && std > 10.0,
        "mean {mean}, std {std}"
    );
    if let Ok(out) = std::env::var("EASEL_MODEL_OUT") {
        image.save(out).unwrap();
    }
}

#[test]
fn a_model_with_only_the_fast_tokenizer_file_loads_and_tokenizes_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = tiny(
        dir.path(),
        PipelineKind::TextToImage,
        "EulerDiscreteScheduler",
    );
    let expected = run(&pipeline, &job(11, 1, Mode::TextToImage));
    // Rewrite the tokenizer as transformers 5 saves it: tokenizer.json alone.
    let tokenizer = dir.path().join("tokenizer");
    let vocab: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tokenizer.join("vocab.json")).unwrap())
            .unwrap();
    let merges: Vec<String> = std::fs::read_to_string(tokenizer.join("merges.txt"))
        .unwrap()
        .lines()
        .skip(1)
        .map(str::to_owned)
        .collect();
    let json = serde_json::json!({"model": {"type": "BPE", "vocab": vocab, "merges": merges}});
    std::fs::write(tokenizer.join("tokenizer.json"), json.to_string()).unwrap();
    std::fs::remove_file(tokenizer.join("vocab.json")).unwrap();
    std::fs::remove_file(tokenizer.join("merges.txt")).unwrap();
    let files = ModelFiles::open(dir.path(), "tiny").unwrap();
    let reloaded = Pipeline::load(&files, &Device::Cpu).unwrap();
    assert_eq!(run(&reloaded, &job(11, 1, Mode::TextToImage)), expected);
}

#[test]
fn text_encoder_weights_load_with_or_without_the_text_model_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = tiny(
        dir.path(),
        PipelineKind::TextToImage,
        "EulerDiscreteScheduler",
    );
    let expected = run(&pipeline, &job(12, 1, Mode::TextToImage));
    // transformers 5 saves CLIPTextModel's tensors without the `text_model.` prefix.
    let path = dir.path().join("text_encoder/model.safetensors");
    let tensors = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    assert!(
        tensors.keys().all(|k| k.starts_with("text_model.")),
        "{:?}",
        tensors.keys()
    );
    let stripped: std::collections::HashMap<String, candle_core::Tensor> = tensors
        .into_iter()
        .map(|(k, t)| (k.trim_start_matches("text_model.").to_owned(), t))
        .collect();
    candle_core::safetensors::save(&stripped, &path).unwrap();
    let files = ModelFiles::open(dir.path(), "tiny").unwrap();
    let reloaded = Pipeline::load(&files, &Device::Cpu).unwrap();
    assert_eq!(run(&reloaded, &job(12, 1, Mode::TextToImage)), expected);
}
