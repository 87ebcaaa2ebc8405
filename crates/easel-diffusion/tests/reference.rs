//! Easel's UNet, autoencoder and text encoder against PyTorch diffusers and transformers,
//! the reference implementations: `fixtures/make_reference.py` built tiny models with
//! random weights there, ran them on fixed inputs and stored weights, configuration,
//! inputs and outputs. Easel loads the same files through its real loader and must give
//! the same outputs to float rounding. This pins the kernels (convolutions, the fused
//! upsampling convolution, group and layer normalisation, causal and plain attention,
//! GELU, GEGLU) and the models' wiring. Each model also runs in f64, which takes the
//! layers' candle-op path, the one GPUs take (this found the causal mask missing there).
//!
//! A whole tiny SDXL pipeline is checked end to end: diffusers ran it from the noise
//! Easel draws for a seed, and Easel must make the same images from the same seed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use easel_diffusion::layout::{TextEncoderConfig, UnetConfig, VaeConfig};
use easel_diffusion::text_encoder::TextEncoder;
use easel_diffusion::unet::{TextTime, UNet};
use easel_diffusion::vae::Vae;
use easel_diffusion::{Job, Mode, ModelFiles, Pipeline};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Both ways the layers run: f32 on the CPU takes Easel's kernels; f64 takes candle's
/// ops, the path every other device (a GPU) takes.
const PATHS: [DType; 2] = [DType::F32, DType::F64];

/// The fixture's configuration, a loader for its weights (in `dtype`), and its inputs
/// and outputs (floats in `dtype`).
fn load<C: serde::de::DeserializeOwned>(
    name: &str,
    weights_file: &str,
    dtype: DType,
) -> (C, candle_nn::VarBuilder<'static>, HashMap<String, Tensor>) {
    let dir = fixture(name);
    let config = serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    let weights =
        easel_diffusion::weights::read(&dir.join(weights_file), dtype, &Device::Cpu).unwrap();
    let io = candle_core::safetensors::load(dir.join("io.safetensors"), &Device::Cpu)
        .unwrap()
        .into_iter()
        .map(|(name, t)| {
            let t = if t.dtype().is_float() {
                t.to_dtype(dtype).unwrap()
            } else {
                t
            };
            (name, t)
        })
        .collect();
    (config, weights, io)
}

/// The largest difference between two tensors, relative to the reference's largest value.
fn relative_difference(ours: &Tensor, reference: &Tensor) -> f32 {
    assert_eq!(ours.dims(), reference.dims());
    let (ours, reference) = (
        &ours.to_dtype(DType::F32).unwrap(),
        &reference.to_dtype(DType::F32).unwrap(),
    );
    let largest = |t: &Tensor| {
        t.abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    largest(&(ours - reference).unwrap()) / largest(reference).max(1e-6)
}

fn check_unet(name: &str, dtype: DType) {
    let (config, weights, io): (UnetConfig, _, _) =
        load(name, "diffusion_pytorch_model.safetensors", dtype);
    let unet = UNet::load(weights, &config).unwrap();
    let timestep = io["timestep"]
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()[0];
    let added = io.get("time_ids").map(|time_ids| TextTime {
        text_embeds: io["text_embeds"].clone(),
        time_ids: time_ids.clone(),
    });
    let out = unet
        .forward_with(&io["latents"], timestep, &io["context"], added.as_ref())
        .unwrap();
    let difference = relative_difference(&out, &io["out"]);
    assert!(
        difference < 1e-4,
        "{name}: relative difference {difference}"
    );
}

#[test]
fn sd1_unet_matches_diffusers() {
    // 1×1-convolution projections, one head count, a 9-channel (inpainting) input.
    PATHS
        .iter()
        .for_each(|&dtype| check_unet("unet-sd1", dtype));
}

#[test]
fn sd2_unet_matches_diffusers() {
    // Linear projections, a head count per block, a first block without attention.
    PATHS
        .iter()
        .for_each(|&dtype| check_unet("unet-sd2", dtype));
}

#[test]
fn sdxl_unet_matches_diffusers() {
    // `text_time` conditioning (pooled text, two different image geometries), two
    // transformer layers in a block.
    PATHS
        .iter()
        .for_each(|&dtype| check_unet("unet-sdxl", dtype));
}

#[test]
fn sdxl_unet_refuses_to_run_without_its_conditioning() {
    let (config, weights, io): (UnetConfig, _, _) = load(
        "unet-sdxl",
        "diffusion_pytorch_model.safetensors",
        DType::F32,
    );
    let unet = UNet::load(weights, &config).unwrap();
    let error = unet
        .forward(&io["latents"], 801.0, &io["context"])
        .unwrap_err()
        .to_string();
    assert!(error.contains("text_time"), "{error}");
}

#[test]
fn autoencoder_encodes_and_decodes_as_diffusers() {
    for dtype in PATHS {
        let (config, weights, io): (VaeConfig, _, _) =
            load("vae", "diffusion_pytorch_model.safetensors", dtype);
        let vae = Vae::new(&config, weights).unwrap();
        let encoded = vae.encode(&io["pixels"]).unwrap();
        let difference = relative_difference(&encoded, &io["encoded"]);
        assert!(
            difference < 1e-4,
            "encode ({dtype:?}): relative difference {difference}"
        );
        let decoded = vae.decode(&io["latents"]).unwrap();
        assert_eq!(decoded.dims(), &[1, 3, 20, 24]);
        let difference = relative_difference(&decoded, &io["decoded"]);
        assert!(
            difference < 1e-4,
            "decode ({dtype:?}): relative difference {difference}"
        );
    }
}

fn check_text_encoder(name: &str, dtype: DType) {
    let (config, weights, io): (TextEncoderConfig, _, _) = load(name, "model.safetensors", dtype);
    let encoder = TextEncoder::new(&config, weights).unwrap();
    let ids = io["ids"].to_dtype(DType::U32).unwrap();
    let hidden = encoder.forward(&ids).unwrap();
    let difference = relative_difference(&hidden, &io["hidden"]);
    assert!(
        difference < 1e-4,
        "{name} ({dtype:?}): relative difference {difference}"
    );
}

#[test]
fn sd1_text_encoder_matches_transformers() {
    PATHS
        .iter()
        .for_each(|&dtype| check_text_encoder("text-quick-gelu", dtype));
}

#[test]
fn sd2_text_encoder_matches_transformers() {
    PATHS
        .iter()
        .for_each(|&dtype| check_text_encoder("text-gelu", dtype));
}

#[test]
fn sdxl_second_text_encoder_matches_transformers() {
    // The penultimate hidden state, and the projection pooled at each row's end token
    // (the first of two in the second row).
    for dtype in PATHS {
        let (config, weights, io): (TextEncoderConfig, _, _) =
            load("text-projection", "model.safetensors", dtype);
        let encoder = TextEncoder::with_projection(&config, weights).unwrap();
        let ids = io["ids"].to_dtype(DType::U32).unwrap();
        let out = encoder.forward_penultimate(&ids, true).unwrap();
        let difference = relative_difference(&out.hidden, &io["penultimate"]);
        assert!(
            difference < 1e-4,
            "penultimate ({dtype:?}): relative difference {difference}"
        );
        let difference = relative_difference(&out.pooled.unwrap(), &io["pooled"]);
        assert!(
            difference < 1e-4,
            "pooled ({dtype:?}): relative difference {difference}"
        );
    }
}

/// The fixture's cases: prompt, negative prompt (empty: SDXL's zeros), guidance, steps,
/// width, height, seed, as `make_reference.py` lists them.
const SDXL_CASES: [(&str, &str, f64, usize, usize, usize, u64); 3] = [
    ("a cat on the mat", "", 4.0, 2, 64, 64, 11),
    ("the cat", "red", 3.0, 2, 48, 64, 7),
    ("on the mat", "", 0.0, 1, 64, 40, 3),
];

#[test]
fn sdxl_pipeline_makes_the_images_diffusers_makes_from_the_same_noise() {
    // Both tokenizers, both encoders' penultimate states side by side, the pooled
    // projection, the size conditioning, zeros for an empty negative prompt, guidance,
    // the Euler schedule and the SDXL autoencoder, together.
    let dir = fixture("pipeline-sdxl");
    let files = ModelFiles::open(&dir, "tiny-sdxl").unwrap();
    let pipeline = Pipeline::load(&files, &Device::Cpu).unwrap();
    let io = candle_core::safetensors::load(dir.join("io.safetensors"), &Device::Cpu).unwrap();
    for (i, &(prompt, negative, guidance, steps, width, height, seed)) in
        SDXL_CASES.iter().enumerate()
    {
        let job = Job {
            prompt: prompt.to_owned(),
            negative: negative.to_owned(),
            width,
            height,
            steps,
            guidance,
            seed,
            mode: Mode::TextToImage,
        };
        // The latents to float rounding: a different prompt or size conditioning moves
        // them by 0.2–4 %.
        let latents = pipeline.generate_latents(&job, &mut |_, _| true).unwrap();
        let difference = relative_difference(&latents, &io[&format!("latents{i}")]);
        assert!(
            difference < 1e-4,
            "case {i}: latents differ by {difference} relative"
        );
        let image = pipeline.generate(&job, &mut |_, _| true).unwrap();
        let reference = &io[&format!("image{i}")];
        assert_eq!(reference.dims(), &[height, width, 3]);
        let reference: Vec<f32> = reference.flatten_all().unwrap().to_vec1().unwrap();
        // The reference is an image, not a flat or clipped field the check would pass
        // trivially.
        let mean = reference.iter().sum::<f32>() / reference.len() as f32;
        let spread = (reference.iter().map(|v| (v - mean).powi(2)).sum::<f32>()
            / reference.len() as f32)
            .sqrt();
        assert!(spread > 0.05, "case {i}: reference spread {spread}");
        let worst = image
            .as_raw()
            .iter()
            .zip(&reference)
            .map(|(&ours, &theirs)| (f32::from(ours) - theirs * 255.0).abs())
            .fold(0.0, f32::max);
        // diffusers' floats against Easel's rounded bytes: half a level of rounding, and
        // float noise.
        assert!(
            worst <= 1.0,
            "case {i}: pixels differ by up to {worst} levels"
        );
    }
}
