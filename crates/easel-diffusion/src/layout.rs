//! The diffusers directory layout a model is stored in (`model_index.json` and one
//! folder per component), the component configurations Easel reads from it, and the
//! error that lists exactly which files are missing.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::DiffusionError;

/// The pipeline a model directory holds, from `model_index.json`'s `_class_name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipelineKind {
    /// `StableDiffusionPipeline` (SD 1.x, 2.x, SD-Turbo): a 4-channel UNet.
    TextToImage,
    /// `StableDiffusionInpaintPipeline`: a 9-channel UNet (latents, mask, masked image).
    Inpaint,
}

/// The model family: which text conditioning the UNet takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// SD 1.x, 2.x, SD-Turbo: one CLIP text encoder's last hidden state.
    StableDiffusion,
    /// SDXL, SDXL-Turbo: two text encoders' penultimate hidden states side by side, the
    /// second's pooled projection, and the image size (`text_time` conditioning).
    StableDiffusionXl,
}

/// `model_index.json`.
#[derive(Debug, Deserialize)]
struct ModelIndex {
    #[serde(rename = "_class_name")]
    class_name: String,
    /// SDXL: an empty negative prompt is zeros rather than the encoded empty text
    /// (diffusers' default for SDXL pipelines is true).
    #[serde(default)]
    force_zeros_for_empty_prompt: Option<bool>,
    /// SDXL refiner: aesthetic-score conditioning instead of the target size.
    #[serde(default)]
    requires_aesthetics_score: bool,
}

impl ModelIndex {
    /// The family and UNet kind of a pipeline class Easel runs.
    fn pipeline(&self) -> Option<(Family, PipelineKind)> {
        Some(match self.class_name.as_str() {
            "StableDiffusionPipeline" | "StableDiffusionImg2ImgPipeline" => {
                (Family::StableDiffusion, PipelineKind::TextToImage)
            }
            "StableDiffusionInpaintPipeline" => (Family::StableDiffusion, PipelineKind::Inpaint),
            "StableDiffusionXLPipeline" | "StableDiffusionXLImg2ImgPipeline" => {
                (Family::StableDiffusionXl, PipelineKind::TextToImage)
            }
            "StableDiffusionXLInpaintPipeline" => {
                (Family::StableDiffusionXl, PipelineKind::Inpaint)
            }
            _ => return None,
        })
    }
}

/// A number given once for every block, or once per block.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PerBlock {
    /// The same for every block.
    One(usize),
    /// One per down block.
    Many(Vec<usize>),
}

impl PerBlock {
    /// The value for block `index`.
    pub fn get(&self, index: usize) -> Option<usize> {
        match self {
            PerBlock::One(value) => Some(*value),
            PerBlock::Many(values) => values.get(index).copied(),
        }
    }
}

/// `unet/config.json` (`UNet2DConditionModel`).
#[derive(Debug, Clone, Deserialize)]
pub struct UnetConfig {
    /// 4, or 9 for inpainting models.
    #[serde(default = "four")]
    pub in_channels: usize,
    /// Output channels (the latent channels).
    #[serde(default = "four")]
    pub out_channels: usize,
    /// Channels per block.
    pub block_out_channels: Vec<usize>,
    /// `CrossAttnDownBlock2D` or `DownBlock2D` per block.
    pub down_block_types: Vec<String>,
    /// ResNet layers per block.
    #[serde(default = "two")]
    pub layers_per_block: usize,
    /// Attention heads per block (diffusers' historical name for the head count).
    #[serde(default = "eight")]
    pub attention_head_dim: PerBlock,
    /// Attention heads per block, when the newer name is used.
    #[serde(default)]
    pub num_attention_heads: Option<PerBlock>,
    /// Width of the text embeddings.
    pub cross_attention_dim: usize,
    /// Transformer layers in each cross-attention block.
    #[serde(default)]
    pub transformer_layers_per_block: Option<PerBlock>,
    /// Padding of the downsampling convolutions.
    #[serde(default = "one")]
    pub downsample_padding: usize,
    /// Output scale of the middle block.
    #[serde(default = "one_f64")]
    pub mid_block_scale_factor: f64,
    /// Group-norm groups.
    #[serde(default = "thirty_two")]
    pub norm_num_groups: usize,
    /// Group-norm epsilon.
    #[serde(default = "norm_eps")]
    pub norm_eps: f64,
    /// Timestep embedding layout.
    #[serde(default = "yes")]
    pub flip_sin_to_cos: bool,
    /// Timestep embedding shift.
    #[serde(default)]
    pub freq_shift: f64,
    /// Whether inputs are mapped from [0, 1] to [-1, 1] first.
    #[serde(default)]
    pub center_input_sample: bool,
    /// Linear (SD 2) rather than 1×1-convolution (SD 1) projections in transformers.
    #[serde(default)]
    pub use_linear_projection: bool,
    /// SDXL's extra conditioning: `text_time` (pooled text and image size).
    #[serde(default)]
    pub addition_embed_type: Option<String>,
    /// `text_time`: channels of the sinusoidal embedding of each size number.
    #[serde(default)]
    pub addition_time_embed_dim: Option<usize>,
    /// `text_time`: width of the pooled text and size embeddings together.
    #[serde(default)]
    pub projection_class_embeddings_input_dim: Option<usize>,
    /// A guidance-scale embedding (LCM-distilled UNets), which Easel does not apply.
    #[serde(default)]
    pub time_cond_proj_dim: Option<usize>,
    /// A class embedding (the upscaling UNet's noise level), which Easel does not apply.
    #[serde(default)]
    pub class_embed_type: Option<String>,
}

/// `vae/config.json` (`AutoencoderKL`).
#[derive(Debug, Clone, Deserialize)]
pub struct VaeConfig {
    /// Channels per block; the image is downsampled 2× per block after the first.
    pub block_out_channels: Vec<usize>,
    /// ResNet layers per block.
    #[serde(default = "one")]
    pub layers_per_block: usize,
    /// Latent channels.
    #[serde(default = "four")]
    pub latent_channels: usize,
    /// Group-norm groups.
    #[serde(default = "thirty_two")]
    pub norm_num_groups: usize,
    /// Latents are multiplied by this before the UNet sees them.
    #[serde(default = "sd_scaling_factor")]
    pub scaling_factor: f64,
    /// Whether a 1×1 convolution follows the encoder.
    #[serde(default = "yes")]
    pub use_quant_conv: bool,
    /// Whether a 1×1 convolution precedes the decoder.
    #[serde(default = "yes")]
    pub use_post_quant_conv: bool,
    /// Whether the autoencoder overflows in half precision (SDXL's does): then SDXL
    /// pipelines run it in single precision on GPUs.
    #[serde(default = "yes")]
    pub force_upcast: bool,
}

impl VaeConfig {
    /// How many pixels one latent covers along each side.
    pub fn scale_factor(&self) -> usize {
        1 << self.block_out_channels.len().saturating_sub(1)
    }
}

/// `text_encoder/config.json` (`CLIPTextModel`).
#[derive(Debug, Clone, Deserialize)]
pub struct TextEncoderConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Width of the embeddings.
    pub hidden_size: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// Transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads.
    pub num_attention_heads: usize,
    /// Tokens per prompt (77).
    #[serde(default = "seventy_seven")]
    pub max_position_embeddings: usize,
    /// `quick_gelu` (OpenAI CLIP, SD 1) or `gelu` (OpenCLIP, SD 2).
    #[serde(default = "quick_gelu")]
    pub hidden_act: String,
    /// Layer-norm epsilon.
    #[serde(default = "layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// Width of the pooled projection (`CLIPTextModelWithProjection`).
    #[serde(default)]
    pub projection_dim: Option<usize>,
    /// The end token, whose position is pooled; 2 (old configurations, SDXL's) means
    /// "the position of the largest id", as transformers reads it.
    #[serde(default = "clip_eos")]
    pub eos_token_id: u32,
}

/// `scheduler/scheduler_config.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct SchedulerConfig {
    /// The diffusers scheduler class.
    #[serde(rename = "_class_name")]
    pub class_name: String,
    /// Training timesteps.
    #[serde(default = "thousand")]
    pub num_train_timesteps: usize,
    /// First beta.
    #[serde(default = "beta_start")]
    pub beta_start: f64,
    /// Last beta.
    #[serde(default = "beta_end")]
    pub beta_end: f64,
    /// `scaled_linear` or `linear`.
    #[serde(default = "scaled_linear")]
    pub beta_schedule: String,
    /// `epsilon` or `v_prediction`.
    #[serde(default = "epsilon")]
    pub prediction_type: String,
    /// `leading`, `trailing` or `linspace`.
    #[serde(default = "leading")]
    pub timestep_spacing: String,
    /// Added to every timestep with `leading` spacing.
    #[serde(default)]
    pub steps_offset: usize,
    /// DDIM: whether the last step's "previous" alpha is 1.
    #[serde(default)]
    pub set_alpha_to_one: bool,
}

/// `tokenizer/tokenizer_config.json`, as far as Easel needs it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenizerConfig {
    /// The padding token: a string or `{"content": …}`.
    #[serde(default)]
    pub pad_token: Option<serde_json::Value>,
    /// Tokens per prompt (transformers writes a huge number for "no limit").
    #[serde(default)]
    pub model_max_length: Option<serde_json::Value>,
}

impl TokenizerConfig {
    /// `model_max_length` when it is a usable count.
    pub fn max_length(&self) -> Option<usize> {
        self.model_max_length
            .as_ref()
            .and_then(serde_json::Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
    }

    /// The padding token's text, when set.
    pub fn pad_token(&self) -> Option<String> {
        match &self.pad_token {
            Some(serde_json::Value::String(text)) => Some(text.clone()),
            Some(serde_json::Value::Object(map)) => map
                .get("content")
                .and_then(|c| c.as_str())
                .map(str::to_owned),
            _ => None,
        }
    }
}

/// Every file of a model directory, found and parsed.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    /// The directory.
    pub dir: PathBuf,
    /// `model_index.json`'s pipeline class.
    pub pipeline_class: String,
    /// Which conditioning the UNet takes.
    pub family: Family,
    /// Which pipeline.
    pub kind: PipelineKind,
    /// The UNet.
    pub unet: UnetConfig,
    /// The UNet weights.
    pub unet_weights: PathBuf,
    /// The autoencoder.
    pub vae: VaeConfig,
    /// The autoencoder weights.
    pub vae_weights: PathBuf,
    /// The (first) text encoder.
    pub text_encoder: TextEncoder,
    /// SDXL's second text encoder (`text_encoder_2/`, `tokenizer_2/`).
    pub text_encoder_2: Option<TextEncoder>,
    /// SDXL: an empty negative prompt conditions on zeros.
    pub zeros_for_empty_negative: bool,
    /// The noise schedule.
    pub scheduler: SchedulerConfig,
}

/// One text encoder's files: its configuration and weights and its tokenizer's.
#[derive(Debug, Clone)]
pub struct TextEncoder {
    /// `text_encoder*/config.json`.
    pub config: TextEncoderConfig,
    /// `text_encoder*/model.safetensors`.
    pub weights: PathBuf,
    /// The tokenizer's vocabulary and merges.
    pub tokenizer_files: TokenizerFiles,
    /// The tokenizer's settings (defaults when the file is absent).
    pub tokenizer: TokenizerConfig,
}

/// Where the tokenizer's vocabulary and merges are.
#[derive(Debug, Clone)]
pub enum TokenizerFiles {
    /// `vocab.json` and `merges.txt` (the slow tokenizer's files).
    VocabMerges {
        /// `vocab.json`.
        vocab: PathBuf,
        /// `merges.txt`.
        merges: PathBuf,
    },
    /// `tokenizer.json` (the fast tokenizer's file, which recent transformers releases
    /// write alone).
    Json(PathBuf),
}

/// A tokenizer folder holds these two files, or [`TOKENIZER_JSON`] instead.
pub const TOKENIZER_FILES: &[&str] = &["vocab.json", "merges.txt"];

/// The fast tokenizer's single file, which may stand in for [`TOKENIZER_FILES`].
pub const TOKENIZER_JSON: &str = "tokenizer.json";

/// Optional files of each tokenizer folder, fetched and read when present.
pub const TOKENIZER_OPTIONAL_FILES: &[&str] = &["tokenizer_config.json", "special_tokens_map.json"];

/// The files every model directory must hold besides its tokenizers, relative to it.
/// Weight files may instead be the `.fp16.safetensors` variant.
pub const REQUIRED_FILES: &[&str] = &[
    "model_index.json",
    "scheduler/scheduler_config.json",
    "text_encoder/config.json",
    "text_encoder/model.safetensors",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
    "vae/config.json",
    "vae/diffusion_pytorch_model.safetensors",
];

/// What an SDXL model directory must hold on top of [`REQUIRED_FILES`].
pub const XL_REQUIRED_FILES: &[&str] = &[
    "text_encoder_2/config.json",
    "text_encoder_2/model.safetensors",
];

/// The tokenizer folders of a model of `family`.
pub fn tokenizer_folders(family: Family) -> &'static [&'static str] {
    match family {
        Family::StableDiffusion => &["tokenizer"],
        Family::StableDiffusionXl => &["tokenizer", "tokenizer_2"],
    }
}

/// Every required file of a model of `family` but its tokenizers.
pub fn required_files(family: Family) -> Vec<&'static str> {
    let mut files = REQUIRED_FILES.to_vec();
    if family == Family::StableDiffusionXl {
        files.extend(XL_REQUIRED_FILES);
    }
    files
}

/// The path of a weight file, or its `.fp16` variant when only that is present.
fn weight_file(dir: &Path, relative: &str) -> Option<PathBuf> {
    let path = dir.join(relative);
    if path.is_file() {
        return Some(path);
    }
    let fp16 = dir.join(relative.replace(".safetensors", ".fp16.safetensors"));
    fp16.is_file().then_some(fp16)
}

/// The tokenizer files present in `dir/folder`, if complete in either form.
fn tokenizer_files(dir: &Path, folder: &str) -> Option<TokenizerFiles> {
    let folder = dir.join(folder);
    let (vocab, merges) = (
        folder.join(TOKENIZER_FILES[0]),
        folder.join(TOKENIZER_FILES[1]),
    );
    if vocab.is_file() && merges.is_file() {
        return Some(TokenizerFiles::VocabMerges { vocab, merges });
    }
    let json = folder.join(TOKENIZER_JSON);
    json.is_file().then_some(TokenizerFiles::Json(json))
}

/// The family `dir`'s `model_index.json` names, when it is readable and names one.
fn family_of(dir: &Path) -> Option<Family> {
    let text = std::fs::read_to_string(dir.join("model_index.json")).ok()?;
    let index: ModelIndex = serde_json::from_str(&text).ok()?;
    index.pipeline().map(|(family, _)| family)
}

/// The required files not present in `dir`, sorted (a weight file counts as present in
/// either variant; a tokenizer in either form). Which files are required depends on the
/// family `model_index.json` names (SD when it cannot be read).
pub fn missing_files(dir: &Path) -> Vec<String> {
    missing_files_of(dir, family_of(dir).unwrap_or(Family::StableDiffusion))
}

/// [`missing_files`] for a model of `family`.
fn missing_files_of(dir: &Path, family: Family) -> Vec<String> {
    let mut missing: Vec<String> = required_files(family)
        .into_iter()
        .filter(|relative| {
            if relative.ends_with(".safetensors") {
                weight_file(dir, relative).is_none()
            } else {
                !dir.join(relative).is_file()
            }
        })
        .map(str::to_owned)
        .collect();
    for folder in tokenizer_folders(family) {
        if tokenizer_files(dir, folder).is_none() {
            missing.extend(
                TOKENIZER_FILES
                    .iter()
                    .map(|f| format!("{folder}/{f}"))
                    .filter(|f| !dir.join(f).is_file())
                    .map(|f| format!("{f} (or {folder}/{TOKENIZER_JSON})")),
            );
        }
    }
    missing.sort();
    missing
}

fn read_json<T: DeserializeOwned>(dir: &Path, relative: &str) -> Result<T, DiffusionError> {
    let path = dir.join(relative);
    let text = std::fs::read_to_string(&path).map_err(|e| DiffusionError::BadModel {
        dir: dir.to_owned(),
        message: format!("cannot read {relative}: {e}"),
    })?;
    serde_json::from_str(&text).map_err(|e| DiffusionError::BadModel {
        dir: dir.to_owned(),
        message: format!("{relative} is not a valid configuration: {e}"),
    })
}

/// The text encoder in `dir/encoder` with the tokenizer in `dir/tokenizer`, whose files
/// [`missing_files`] found.
fn text_encoder_files(
    dir: &Path,
    encoder: &str,
    tokenizer: &str,
) -> Result<TextEncoder, DiffusionError> {
    let settings = format!("{tokenizer}/tokenizer_config.json");
    Ok(TextEncoder {
        config: read_json(dir, &format!("{encoder}/config.json"))?,
        weights: weight_file(dir, &format!("{encoder}/model.safetensors"))
            .expect("missing_files checked every weight file"),
        tokenizer_files: tokenizer_files(dir, tokenizer)
            .expect("missing_files checked the tokenizers"),
        tokenizer: if dir.join(&settings).is_file() {
            read_json(dir, &settings)?
        } else {
            TokenizerConfig::default()
        },
    })
}

impl ModelFiles {
    /// Finds and parses every file of the model in `dir`. `name` is how the user knows
    /// the model, for the hint in a missing-files error.
    pub fn open(dir: &Path, name: &str) -> Result<ModelFiles, DiffusionError> {
        let bad = |message: String| DiffusionError::BadModel {
            dir: dir.to_owned(),
            message,
        };
        // The pipeline class first, when it can be read: it decides which files the
        // directory needs, and an unsupported pipeline is better said than its files
        // listed as missing.
        let index = dir
            .join("model_index.json")
            .is_file()
            .then(|| read_json::<ModelIndex>(dir, "model_index.json"))
            .transpose()?;
        let pipeline = index.as_ref().map(|index| {
            let supported = index.pipeline().ok_or_else(|| {
                bad(format!(
                    "model_index.json names the pipeline `{}`; this engine runs \
                     StableDiffusionPipeline, StableDiffusionInpaintPipeline, \
                     StableDiffusionXLPipeline and StableDiffusionXLInpaintPipeline models \
                     (SD 1.x, SD 2.x, SD-Turbo, SDXL, SDXL-Turbo and their inpainting \
                     variants)",
                    index.class_name
                ))
            })?;
            if index.requires_aesthetics_score {
                return Err(bad(
                    "model_index.json asks for aesthetic-score conditioning (the SDXL \
                     refiner), which this engine does not run; use an SDXL base or turbo \
                     model"
                        .to_owned(),
                ));
            }
            Ok(supported)
        });
        let pipeline = pipeline.transpose()?;
        let family = pipeline.map_or(Family::StableDiffusion, |(family, _)| family);
        let missing = missing_files_of(dir, family);
        if !missing.is_empty() {
            // `.bin`-only checkpoints are a common surprise: say so rather than listing
            // the safetensors as absent with no reason.
            let pickled = missing
                .iter()
                .filter(|f| f.ends_with(".safetensors"))
                .any(|f| dir.join(f.replace(".safetensors", ".bin")).is_file());
            return Err(DiffusionError::MissingFiles {
                model: name.to_owned(),
                dir: dir.to_owned(),
                missing,
                pickled,
            });
        }
        let (index, (family, kind)) = index
            .zip(pipeline)
            .expect("missing_files checked model_index.json");
        let unet: UnetConfig = read_json(dir, "unet/config.json")?;
        match (family, unet.addition_embed_type.as_deref()) {
            (Family::StableDiffusion, None) | (Family::StableDiffusionXl, Some("text_time")) => {}
            (Family::StableDiffusion, Some(extra)) => {
                return Err(bad(format!(
                    "the UNet needs `{extra}` conditioning, which a {} does not give it",
                    index.class_name
                )));
            }
            (Family::StableDiffusionXl, other) => {
                return Err(bad(format!(
                    "a {} needs a UNet with `text_time` conditioning; unet/config.json has \
                     addition_embed_type {other:?}",
                    index.class_name
                )));
            }
        }
        let expected_in = match kind {
            PipelineKind::TextToImage => 4,
            PipelineKind::Inpaint => 9,
        };
        if unet.in_channels != expected_in {
            return Err(bad(format!(
                "unet/config.json has in_channels {} but a {} needs {expected_in}",
                unet.in_channels, index.class_name
            )));
        }
        if unet.down_block_types.len() != unet.block_out_channels.len() {
            return Err(bad(
                "unet/config.json: down_block_types and block_out_channels differ in length"
                    .to_owned(),
            ));
        }
        let text_encoder = text_encoder_files(dir, "text_encoder", "tokenizer")?;
        let text_encoder_2 = match family {
            Family::StableDiffusion => None,
            Family::StableDiffusionXl => {
                Some(text_encoder_files(dir, "text_encoder_2", "tokenizer_2")?)
            }
        };
        let weights = |relative: &str| {
            weight_file(dir, relative).expect("missing_files checked every weight file")
        };
        Ok(ModelFiles {
            dir: dir.to_owned(),
            family,
            kind,
            zeros_for_empty_negative: family == Family::StableDiffusionXl
                && index.force_zeros_for_empty_prompt.unwrap_or(true),
            pipeline_class: index.class_name,
            unet_weights: weights("unet/diffusion_pytorch_model.safetensors"),
            unet,
            vae: read_json(dir, "vae/config.json")?,
            vae_weights: weights("vae/diffusion_pytorch_model.safetensors"),
            text_encoder,
            text_encoder_2,
            scheduler: read_json(dir, "scheduler/scheduler_config.json")?,
        })
    }

    /// Bytes of weights on disk.
    pub fn weight_bytes(&self) -> u64 {
        [&self.unet_weights, &self.vae_weights]
            .into_iter()
            .chain(
                std::iter::once(&self.text_encoder)
                    .chain(&self.text_encoder_2)
                    .map(|t| &t.weights),
            )
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }
}

fn one() -> usize {
    1
}
fn two() -> usize {
    2
}
fn four() -> usize {
    4
}
fn eight() -> PerBlock {
    PerBlock::One(8)
}
fn thirty_two() -> usize {
    32
}
fn seventy_seven() -> usize {
    77
}
fn thousand() -> usize {
    1000
}
fn one_f64() -> f64 {
    1.0
}
fn norm_eps() -> f64 {
    1e-5
}
fn clip_eos() -> u32 {
    49407
}
fn layer_norm_eps() -> f64 {
    1e-5
}
fn sd_scaling_factor() -> f64 {
    0.18215
}
fn beta_start() -> f64 {
    0.00085
}
fn beta_end() -> f64 {
    0.012
}
fn yes() -> bool {
    true
}
fn quick_gelu() -> String {
    "quick_gelu".to_owned()
}
fn scaled_linear() -> String {
    "scaled_linear".to_owned()
}
fn epsilon() -> String {
    "epsilon".to_owned()
}
fn leading() -> String {
    "leading".to_owned()
}
