//! Easel's UNet, autoencoder and text encoder against PyTorch diffusers and transformers,
//! the reference implementations: `fixtures/make_reference.py` built tiny models with
//! random weights there, ran them on fixed inputs and stored weights, configuration,
//! inputs and outputs. Easel loads the same files through its real loader and must give
//! the same outputs to float rounding. This pins the kernels (convolutions, the fused
//! upsampling convolution, group and layer normalisation, causal and plain attention,
//! GELU, GEGLU) and the models' wiring. Each model also runs in f64, which takes the
//! layers' candle-op path, the one GPUs take (this found the causal mask missing there).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use easel_diffusion::layout::{TextEncoderConfig, UnetConfig, VaeConfig};
use easel_diffusion::text_encoder::TextEncoder;
use easel_diffusion::unet::UNet;
use easel_diffusion::vae::Vae;

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
    let out = unet
        .forward(&io["latents"], timestep, &io["context"])
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
