//! Easel's UNet and autoencoder against candle-transformers' independent implementations
//! of the same diffusers models: random weights written once, loaded by both, run on the
//! same input; the outputs must agree to float rounding. This pins Easel's kernels
//! (convolution, normalisation, attention, GEGLU) and the models' wiring to a reference.

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::stable_diffusion::unet_2d::{
    BlockConfig, UNet2DConditionModel, UNet2DConditionModelConfig,
};
use candle_transformers::models::stable_diffusion::vae::{AutoEncoderKL, AutoEncoderKLConfig};
use easel_diffusion::layout::{UnetConfig, VaeConfig};
use easel_diffusion::unet::UNet;
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

fn unet_config(linear_projection: bool) -> (UnetConfig, UNet2DConditionModelConfig) {
    let ours: UnetConfig = serde_json::from_value(serde_json::json!({
        "in_channels": 4,
        "out_channels": 4,
        "block_out_channels": [32, 64, 64],
        "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
        "layers_per_block": 2,
        "attention_head_dim": [2, 4, 4],
        "cross_attention_dim": 48,
        "norm_num_groups": 8,
        "use_linear_projection": linear_projection,
    }))
    .unwrap();
    let block = |out_channels, cross: bool, heads| BlockConfig {
        out_channels,
        use_cross_attn: cross.then_some(1),
        attention_head_dim: heads,
    };
    let reference = UNet2DConditionModelConfig {
        center_input_sample: false,
        flip_sin_to_cos: true,
        freq_shift: 0.0,
        blocks: vec![block(32, true, 2), block(64, true, 4), block(64, false, 4)],
        layers_per_block: 2,
        downsample_padding: 1,
        mid_block_scale_factor: 1.0,
        norm_num_groups: 8,
        norm_eps: 1e-5,
        cross_attention_dim: 48,
        sliced_attention_size: None,
        use_linear_projection: linear_projection,
    };
    (ours, reference)
}

#[test]
fn unet_matches_the_reference_implementation() {
    for linear_projection in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let (ours_config, reference_config) = unet_config(linear_projection);
        let vb = random_weights(dir.path(), |vb| {
            UNet2DConditionModel::new(vb, 4, 4, false, reference_config.clone()).map(|_| ())
        });
        let reference =
            UNet2DConditionModel::new(vb.clone(), 4, 4, false, reference_config).unwrap();
        let ours = UNet::load(vb, &ours_config).unwrap();

        // Two images (as with guidance), an odd latent size, a real-looking timestep.
        let latents = Tensor::randn(0f32, 1.0, (2, 4, 24, 20), &Device::Cpu).unwrap();
        let context = Tensor::randn(0f32, 1.0, (2, 7, 48), &Device::Cpu).unwrap();
        let expected = reference.forward(&latents, 801.0, &context).unwrap();
        let got = ours.forward(&latents, 801.0, &context).unwrap();
        let difference = relative_difference(&got, &expected);
        assert!(
            difference < 1e-4,
            "linear projection {linear_projection}: relative difference {difference}"
        );
    }
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
