//! Easel's autoencoder against candle-transformers' independent implementation of the
//! same diffusers model: random weights written once, loaded by both, run on the same
//! latents; the outputs must agree to float rounding. This pins Easel's kernels
//! (convolutions, the fused upsampling convolution, group normalisation, attention) and
//! the decoder's wiring to a reference.

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::stable_diffusion::vae::{AutoEncoderKL, AutoEncoderKLConfig};
use easel_diffusion::layout::VaeConfig;
use easel_diffusion::vae::Vae;

/// Writes `build`'s randomly initialised variables to a safetensors file and maps it.
fn random_weights(
    dir: &std::path::Path,
    build: impl FnOnce(VarBuilder) -> candle_core::Result<()>,
) -> VarBuilder<'static> {
    let vars = VarMap::new();
    build(VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu)).unwrap();
    let path = dir.join("weights.safetensors");
    vars.save(&path).unwrap();
    let tensors = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu)
}

/// The largest difference between two tensors, relative to the reference's scale.
fn relative_difference(ours: &Tensor, reference: &Tensor) -> f32 {
    assert_eq!(ours.dims(), reference.dims());
    let scale = reference
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let diff = (ours - reference)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    diff / scale.max(1e-6)
}

#[test]
fn autoencoder_decodes_as_the_reference_implementation() {
    let dir = tempfile::tempdir().unwrap();
    let reference_config = AutoEncoderKLConfig {
        block_out_channels: vec![16, 32, 32],
        layers_per_block: 1,
        latent_channels: 4,
        norm_num_groups: 8,
        use_quant_conv: true,
        use_post_quant_conv: true,
    };
    let ours_config: VaeConfig = serde_json::from_value(serde_json::json!({
        "block_out_channels": [16, 32, 32],
        "layers_per_block": 1,
        "latent_channels": 4,
        "norm_num_groups": 8,
        "scaling_factor": 0.5,
    }))
    .unwrap();
    let vb = random_weights(dir.path(), |vb| {
        AutoEncoderKL::new(vb, 3, 3, reference_config.clone()).map(|_| ())
    });
    let reference = AutoEncoderKL::new(vb.clone(), 3, 3, reference_config).unwrap();
    let ours = Vae::new(&ours_config, vb).unwrap();

    let latents = Tensor::randn(0f32, 1.0, (1, 4, 10, 12), &Device::Cpu).unwrap();
    let expected = reference.decode(&latents).unwrap();
    // Easel's decoder takes UNet-scaled latents.
    let got = ours.decode(&(&latents * 0.5).unwrap()).unwrap();
    assert_eq!(got.dims(), &[1, 3, 40, 48]);
    let difference = relative_difference(&got, &expected);
    assert!(difference < 1e-4, "relative difference {difference}");
}
