//! Tiny random-weight models in the real diffusers layout (configuration JSON,
//! safetensors weights under diffusers' tensor names, CLIP tokenizer files), for tests
//! and demos on machines that cannot download real weights. They load through the same
//! loader as real models; their images are noise-like but deterministic.

use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use serde_json::{Value, json};

use crate::layout::{Family, PipelineKind, TextEncoderConfig, UnetConfig, VaeConfig};
use crate::text_encoder::TextEncoder;
use crate::unet::UNet;
use crate::vae::Vae;

fn write_json(path: &Path, value: &Value) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(
        path,
        serde_json::to_string_pretty(value).expect("JSON serialises"),
    )
}

fn io(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Creates `module` with random weights through `build` and saves them to `path`.
fn save_random<T>(
    path: &Path,
    build: impl FnOnce(VarBuilder) -> candle_core::Result<T>,
) -> std::io::Result<()> {
    let vars = VarMap::new();
    build(VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu)).map_err(io)?;
    vars.save(path).map_err(io)
}

/// The tokenizer of the tiny models: CLIP's 256 byte symbols, each also with the
/// word-end marker, the two special tokens, and a few merges so BPE has work to do.
fn write_tokenizer(dir: &Path, pad: &str) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let chars = crate::tokenizer::byte_chars();
    let mut vocab = serde_json::Map::new();
    for c in chars {
        let id = vocab.len();
        vocab.insert(c.to_string(), json!(id));
    }
    for c in chars {
        let id = vocab.len();
        vocab.insert(format!("{c}</w>"), json!(id));
    }
    let merges = ["t h", "th e</w>", "a t</w>", "c at</w>", "r e", "o n</w>"];
    for merge in merges {
        let id = vocab.len();
        vocab.insert(merge.replace(' ', ""), json!(id));
    }
    for special in ["<|startoftext|>", "<|endoftext|>"] {
        let id = vocab.len();
        vocab.insert(special.to_owned(), json!(id));
    }
    let size = vocab.len();
    write_json(&dir.join("vocab.json"), &Value::Object(vocab))?;
    std::fs::write(
        dir.join("merges.txt"),
        format!("#version: 0.2\n{}\n", merges.join("\n")),
    )?;
    write_json(
        &dir.join("tokenizer_config.json"),
        &json!({"pad_token": pad, "model_max_length": 77}),
    )?;
    Ok(size)
}

/// Writes a tiny 2-layer CLIP text encoder into `dir`: a `CLIPTextModel` under
/// `text_model.` (as the SD repositories, written by transformers 4, hold it), or with a
/// pooled `projection` of that width a `CLIPTextModelWithProjection` configured as
/// SDXL's second encoder is, its weights without the prefix (as transformers 5 writes).
fn write_text_encoder(
    dir: &Path,
    vocab_size: usize,
    activation: &str,
    projection: Option<usize>,
) -> std::io::Result<()> {
    let mut config = json!({
        "architectures": ["CLIPTextModel"],
        "vocab_size": vocab_size,
        "hidden_size": 32,
        "intermediate_size": 37,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "max_position_embeddings": 77,
        "hidden_act": activation,
        "layer_norm_eps": 1e-5,
        "projection_dim": projection.unwrap_or(32),
    });
    if projection.is_some() {
        config["architectures"] = json!(["CLIPTextModelWithProjection"]);
        // As SDXL's configuration has it: pooled at the largest id (the end token).
        config["eos_token_id"] = json!(2);
    }
    write_json(&dir.join("config.json"), &config)?;
    let config: TextEncoderConfig = serde_json::from_value(config).map_err(io)?;
    save_random(&dir.join("model.safetensors"), |vb| match projection {
        Some(_) => TextEncoder::with_projection(&config, vb),
        None => TextEncoder::new(&config, vb.pp("text_model")),
    })
}

/// Writes a tiny SD model of `kind` into `dir` (created if needed): a 2-block UNet of
/// 32 and 64 channels (cross-attention in the second), a 4-block autoencoder (8×
/// downsampling like real SD) and a 2-layer text encoder. `scheduler` is the diffusers
/// scheduler class.
pub fn write_tiny_model(dir: &Path, kind: PipelineKind, scheduler: &str) -> std::io::Result<()> {
    write_tiny(dir, Family::StableDiffusion, kind, scheduler)
}

/// [`write_tiny_model`] for SDXL: a second text encoder with a pooled projection and its
/// tokenizer, and a UNet with `text_time` conditioning and two transformer layers in
/// its attention block.
pub fn write_tiny_xl_model(dir: &Path, kind: PipelineKind, scheduler: &str) -> std::io::Result<()> {
    write_tiny(dir, Family::StableDiffusionXl, kind, scheduler)
}

fn write_tiny(
    dir: &Path,
    family: Family,
    kind: PipelineKind,
    scheduler: &str,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let xl = family == Family::StableDiffusionXl;
    let pipeline = match (family, kind) {
        (Family::StableDiffusion, PipelineKind::TextToImage) => "StableDiffusionPipeline",
        (Family::StableDiffusion, PipelineKind::Inpaint) => "StableDiffusionInpaintPipeline",
        (Family::StableDiffusionXl, PipelineKind::TextToImage) => "StableDiffusionXLPipeline",
        (Family::StableDiffusionXl, PipelineKind::Inpaint) => "StableDiffusionXLInpaintPipeline",
    };
    let mut index = json!({
        "_class_name": pipeline,
        "_diffusers_version": "0.30.0",
        "scheduler": ["diffusers", scheduler],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    });
    if xl {
        index["text_encoder_2"] = json!(["transformers", "CLIPTextModelWithProjection"]);
        index["tokenizer_2"] = json!(["transformers", "CLIPTokenizer"]);
        index["force_zeros_for_empty_prompt"] = json!(true);
    }
    write_json(&dir.join("model_index.json"), &index)?;
    write_json(
        &dir.join("scheduler/scheduler_config.json"),
        &json!({
            "_class_name": scheduler,
            "num_train_timesteps": 1000,
            "beta_start": 0.00085,
            "beta_end": 0.012,
            "beta_schedule": "scaled_linear",
            "prediction_type": "epsilon",
            "timestep_spacing": "trailing",
            "steps_offset": 1,
            "set_alpha_to_one": false,
        }),
    )?;
    // SD 2 pads with `!`; SDXL's first tokenizer (OpenAI CLIP's) with the end token.
    let pad = if xl { "<|endoftext|>" } else { "!" };
    let vocab_size = write_tokenizer(&dir.join("tokenizer"), pad)?;

    let activation = if xl { "quick_gelu" } else { "gelu" };
    write_text_encoder(&dir.join("text_encoder"), vocab_size, activation, None)?;
    if xl {
        write_tokenizer(&dir.join("tokenizer_2"), "!")?;
        write_text_encoder(&dir.join("text_encoder_2"), vocab_size, "gelu", Some(16))?;
    }

    let mut unet = json!({
        "_class_name": "UNet2DConditionModel",
        "in_channels": if kind == PipelineKind::Inpaint { 9 } else { 4 },
        "out_channels": 4,
        "block_out_channels": [32, 64],
        // Attention only at the lower resolution keeps the tiny model fast at real
        // output sizes (the tests serve 320×320 images).
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
        "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"],
        "layers_per_block": 1,
        "attention_head_dim": [2, 4],
        "cross_attention_dim": 32,
        "norm_num_groups": 8,
        "use_linear_projection": true,
        "sample_size": 8,
    });
    if xl {
        // Both encoders' 32-wide states side by side; the 16-wide pooled projection and
        // six 8-channel size embeddings.
        unet["cross_attention_dim"] = json!(64);
        unet["transformer_layers_per_block"] = json!([1, 2]);
        unet["addition_embed_type"] = json!("text_time");
        unet["addition_time_embed_dim"] = json!(8);
        unet["projection_class_embeddings_input_dim"] = json!(16 + 6 * 8);
    }
    write_json(&dir.join("unet/config.json"), &unet)?;
    let unet: UnetConfig = serde_json::from_value(unet).map_err(io)?;
    save_random(
        &dir.join("unet/diffusion_pytorch_model.safetensors"),
        |vb| UNet::load(vb, &unet),
    )?;

    let vae = json!({
        "_class_name": "AutoencoderKL",
        "in_channels": 3,
        "out_channels": 3,
        "block_out_channels": [8, 8, 16, 16],
        "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
        "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
        "layers_per_block": 1,
        "latent_channels": 4,
        "norm_num_groups": 4,
        "scaling_factor": if xl { 0.13025 } else { 0.18215 },
        "sample_size": 64,
    });
    write_json(&dir.join("vae/config.json"), &vae)?;
    let vae: VaeConfig = serde_json::from_value(vae).map_err(io)?;
    save_random(&dir.join("vae/diffusion_pytorch_model.safetensors"), |vb| {
        Vae::new(&vae, vb)
    })?;
    Ok(())
}
