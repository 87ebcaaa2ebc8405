//! diffusers' `UNet2DConditionModel` (SD 1.x, 2.x, SD-Turbo, SDXL with its `text_time`
//! conditioning, and the inpainting variants), built from [`crate::layers`] so that its convolutions, normalisations and
//! attention run Easel's CPU kernels, with the time embedding and residuals folded into
//! the convolutions.

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::VarBuilder;

use crate::layers::{
    Attention, Conv2d, FeedForward, GroupNorm, LayerNorm, Linear, ResnetBlock, pixels_to_tokens,
    tokens_to_pixels,
};
use crate::layout::UnetConfig;

/// Self-attention, cross-attention and feed-forward, each with a pre-norm and residual.
#[derive(Debug)]
struct TransformerBlock {
    norm1: LayerNorm,
    attn1: Attention,
    norm2: LayerNorm,
    attn2: Attention,
    norm3: LayerNorm,
    ff: FeedForward,
}

impl TransformerBlock {
    fn load(vb: VarBuilder, dim: usize, heads: usize, context: usize) -> Result<Self> {
        Ok(TransformerBlock {
            norm1: LayerNorm::load(vb.pp("norm1"), dim, 1e-5)?,
            attn1: Attention::load(vb.pp("attn1"), dim, None, heads, false)?,
            norm2: LayerNorm::load(vb.pp("norm2"), dim, 1e-5)?,
            attn2: Attention::load(vb.pp("attn2"), dim, Some(context), heads, false)?,
            norm3: LayerNorm::load(vb.pp("norm3"), dim, 1e-5)?,
            ff: FeedForward::load(vb.pp("ff"), dim)?,
        })
    }

    fn forward(&self, x: &Tensor, context: &Tensor) -> Result<Tensor> {
        let x = self
            .attn1
            .forward_residual(&self.norm1.forward(x)?, None, Some(x))?;
        let x = self
            .attn2
            .forward_residual(&self.norm2.forward(&x)?, Some(context), Some(&x))?;
        self.ff.forward_residual(&self.norm3.forward(&x)?, &x)
    }
}

/// A projection into or out of a transformer: a linear layer (SD 2) or a 1×1
/// convolution (SD 1).
#[derive(Debug)]
enum Projection {
    Linear(Linear),
    Conv(Conv2d),
}

impl Projection {
    fn load(vb: VarBuilder, (c_in, c_out): (usize, usize), linear: bool) -> Result<Self> {
        Ok(if linear {
            Projection::Linear(Linear::load(vb, (c_in, c_out), true)?)
        } else {
            Projection::Conv(Conv2d::load(vb, (c_in, c_out), 1, 1, 0)?)
        })
    }
}

/// diffusers' `Transformer2DModel`: the image's pixels as tokens attending to each other
/// and to the text.
#[derive(Debug)]
struct SpatialTransformer {
    norm: GroupNorm,
    proj_in: Projection,
    blocks: Vec<TransformerBlock>,
    proj_out: Projection,
}

impl SpatialTransformer {
    fn load(
        vb: VarBuilder,
        channels: usize,
        heads: usize,
        layers: usize,
        context: usize,
        linear: bool,
        groups: usize,
    ) -> Result<Self> {
        let blocks = (0..layers)
            .map(|i| {
                TransformerBlock::load(
                    vb.pp("transformer_blocks").pp(i.to_string()),
                    channels,
                    heads,
                    context,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(SpatialTransformer {
            norm: GroupNorm::load(vb.pp("norm"), groups, channels, 1e-6)?,
            proj_in: Projection::load(vb.pp("proj_in"), (channels, channels), linear)?,
            blocks,
            proj_out: Projection::load(vb.pp("proj_out"), (channels, channels), linear)?,
        })
    }

    fn forward(&self, x: &Tensor, context: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        let normed = self.norm.forward(x, false)?;
        let mut tokens = match &self.proj_in {
            Projection::Linear(linear) => linear.forward(&pixels_to_tokens(&normed)?)?,
            Projection::Conv(conv) => pixels_to_tokens(&conv.forward(&normed)?)?,
        };
        for block in &self.blocks {
            tokens = block.forward(&tokens, context)?;
        }
        match &self.proj_out {
            Projection::Linear(linear) => tokens_to_pixels(&linear.forward(&tokens)?, (h, w))? + x,
            Projection::Conv(conv) => {
                conv.forward_fused(&tokens_to_pixels(&tokens, (h, w))?, None, Some(x))
            }
        }
    }
}

/// One level of the UNet: ResNet blocks, each optionally followed by a transformer.
#[derive(Debug)]
struct Level {
    resnets: Vec<ResnetBlock>,
    attentions: Vec<SpatialTransformer>,
    /// Stride-2 convolution (down) or upsample-then-convolution (up).
    resample: Option<Conv2d>,
}

/// SDXL's added conditioning for a batch: the pooled text embedding and six numbers of
/// image geometry (original height and width, crop top and left, target height and
/// width), each embedded sinusoidally.
#[derive(Debug, Clone)]
pub struct TextTime {
    /// The second text encoder's pooled projection, `(batch, width)`.
    pub text_embeds: Tensor,
    /// `(batch, 6)`.
    pub time_ids: Tensor,
}

/// The `text_time` embedding: `[text_embeds, sinusoidal(time_ids)]` through two linear
/// layers, added to the timestep embedding.
#[derive(Debug)]
struct TextTimeEmbedding {
    linear_1: Linear,
    linear_2: Linear,
    /// Channels of each time id's sinusoidal embedding.
    channels: usize,
    /// Width of `[text_embeds, time embeddings]`.
    input: usize,
}

/// The loaded UNet.
#[derive(Debug)]
pub struct UNet {
    conv_in: Conv2d,
    time_linear_1: Linear,
    time_linear_2: Linear,
    text_time: Option<TextTimeEmbedding>,
    down: Vec<Level>,
    mid_resnets: Vec<ResnetBlock>,
    mid_attentions: Vec<SpatialTransformer>,
    up: Vec<Level>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
    time_channels: usize,
    flip_sin_to_cos: bool,
    freq_shift: f64,
    center_input_sample: bool,
}

impl UNet {
    /// Builds the model `config` describes from its weights.
    pub fn load(vb: VarBuilder, config: &UnetConfig) -> Result<UNet> {
        let channels = &config.block_out_channels;
        let levels = channels.len();
        if levels == 0 || config.down_block_types.len() != levels {
            candle_core::bail!("block_out_channels and down_block_types must match");
        }
        // Conditioning Easel does not apply would be silently missing from every image.
        if let Some(width) = config.time_cond_proj_dim {
            candle_core::bail!(
                "time_cond_proj_dim {width} (an LCM-distilled UNet's guidance embedding) is \
                 not supported"
            );
        }
        if let Some(kind) = &config.class_embed_type {
            candle_core::bail!("class_embed_type `{kind}` is not supported");
        }
        let time = 4 * channels[0];
        let text_time = match config.addition_embed_type.as_deref() {
            None => None,
            Some("text_time") => {
                let (Some(channels), Some(input)) = (
                    config.addition_time_embed_dim,
                    config.projection_class_embeddings_input_dim,
                ) else {
                    candle_core::bail!(
                        "text_time conditioning needs addition_time_embed_dim and \
                         projection_class_embeddings_input_dim"
                    );
                };
                Some(TextTimeEmbedding {
                    linear_1: Linear::load(vb.pp("add_embedding.linear_1"), (input, time), true)?,
                    linear_2: Linear::load(vb.pp("add_embedding.linear_2"), (time, time), true)?,
                    channels,
                    input,
                })
            }
            Some(other) => {
                candle_core::bail!("addition_embed_type `{other}` is not supported")
            }
        };
        let cross: Vec<bool> = config
            .down_block_types
            .iter()
            .map(|kind| match kind.as_str() {
                "CrossAttnDownBlock2D" => Ok(true),
                "DownBlock2D" => Ok(false),
                other => Err(candle_core::Error::Msg(format!(
                    "down block type `{other}` is not supported"
                ))),
            })
            .collect::<Result<_>>()?;
        let heads_per = config
            .num_attention_heads
            .as_ref()
            .unwrap_or(&config.attention_head_dim);
        let heads = |i: usize| {
            heads_per
                .get(i)
                .ok_or_else(|| candle_core::Error::Msg(format!("no head count for block {i}")))
        };
        let layers = |i: usize| {
            config
                .transformer_layers_per_block
                .as_ref()
                .and_then(|l| l.get(i))
                .unwrap_or(1)
        };
        let groups = config.norm_num_groups;
        let eps = config.norm_eps;
        let context = config.cross_attention_dim;
        let linear = config.use_linear_projection;
        let transformer = |vb: VarBuilder, c: usize, i: usize| {
            SpatialTransformer::load(vb, c, heads(i)?, layers(i), context, linear, groups)
        };

        let mut down = Vec::new();
        let mut previous = channels[0];
        for (i, &out) in channels.iter().enumerate() {
            let vb = vb.pp("down_blocks").pp(i.to_string());
            let mut level = Level {
                resnets: vec![],
                attentions: vec![],
                resample: None,
            };
            for j in 0..config.layers_per_block {
                let c_in = if j == 0 { previous } else { out };
                let resnet_vb = vb.pp("resnets").pp(j.to_string());
                level.resnets.push(ResnetBlock::load(
                    resnet_vb,
                    (c_in, out),
                    Some(time),
                    groups,
                    eps,
                )?);
                if cross[i] {
                    let attention_vb = vb.pp("attentions").pp(j.to_string());
                    level.attentions.push(transformer(attention_vb, out, i)?);
                }
            }
            if i + 1 < levels {
                level.resample = Some(Conv2d::load(
                    vb.pp("downsamplers.0.conv"),
                    (out, out),
                    3,
                    2,
                    config.downsample_padding,
                )?);
            }
            down.push(level);
            previous = out;
        }

        let last = channels[levels - 1];
        let mid = vb.pp("mid_block");
        let mid_resnets = (0..2)
            .map(|j| {
                ResnetBlock::load(
                    mid.pp("resnets").pp(j.to_string()),
                    (last, last),
                    Some(time),
                    groups,
                    eps,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let mid_attentions = vec![transformer(mid.pp("attentions.0"), last, levels - 1)?];
        if config.mid_block_scale_factor != 1.0 {
            candle_core::bail!("mid_block_scale_factor other than 1 is not supported");
        }

        let mut up = Vec::new();
        let mut previous = last;
        for i in 0..levels {
            let level_index = levels - 1 - i;
            let vb = vb.pp("up_blocks").pp(i.to_string());
            let out = channels[level_index];
            let input = channels[level_index.saturating_sub(1)];
            let mut level = Level {
                resnets: vec![],
                attentions: vec![],
                resample: None,
            };
            for j in 0..=config.layers_per_block {
                let skip = if j == config.layers_per_block {
                    input
                } else {
                    out
                };
                let c_in = if j == 0 { previous } else { out };
                let resnet_vb = vb.pp("resnets").pp(j.to_string());
                level.resnets.push(ResnetBlock::load(
                    resnet_vb,
                    (c_in + skip, out),
                    Some(time),
                    groups,
                    eps,
                )?);
                if cross[level_index] {
                    let attention_vb = vb.pp("attentions").pp(j.to_string());
                    level
                        .attentions
                        .push(transformer(attention_vb, out, level_index)?);
                }
            }
            if i + 1 < levels {
                level.resample = Some(Conv2d::load(
                    vb.pp("upsamplers.0.conv"),
                    (out, out),
                    3,
                    1,
                    1,
                )?);
            }
            up.push(level);
            previous = out;
        }

        Ok(UNet {
            conv_in: Conv2d::load(vb.pp("conv_in"), (config.in_channels, channels[0]), 3, 1, 1)?,
            time_linear_1: Linear::load(
                vb.pp("time_embedding.linear_1"),
                (channels[0], time),
                true,
            )?,
            time_linear_2: Linear::load(vb.pp("time_embedding.linear_2"), (time, time), true)?,
            text_time,
            down,
            mid_resnets,
            mid_attentions,
            up,
            norm_out: GroupNorm::load(vb.pp("conv_norm_out"), groups, channels[0], eps)?,
            conv_out: Conv2d::load(
                vb.pp("conv_out"),
                (channels[0], config.out_channels),
                3,
                1,
                1,
            )?,
            time_channels: channels[0],
            flip_sin_to_cos: config.flip_sin_to_cos,
            freq_shift: config.freq_shift,
            center_input_sample: config.center_input_sample,
        })
    }

    /// The sinusoidal embeddings of `values`, `(values, channels)`, as diffusers'
    /// `Timesteps` computes them.
    fn sinusoidal(
        &self,
        values: &[f64],
        channels: usize,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        let half = channels / 2;
        let frequencies: Vec<f64> = (0..half)
            .map(|i| (-(10_000f64.ln()) * i as f64 / (half as f64 - self.freq_shift)).exp())
            .collect();
        let mut rows = Vec::with_capacity(values.len() * 2 * half);
        for &value in values {
            let angles = frequencies.iter().map(|f| f * value);
            let sin = angles.clone().map(|a| a.sin() as f32);
            let cos = angles.map(|a| a.cos() as f32);
            if self.flip_sin_to_cos {
                rows.extend(cos.chain(sin));
            } else {
                rows.extend(sin.chain(cos));
            }
        }
        Tensor::from_vec(rows, (values.len(), 2 * half), device)?.to_dtype(dtype)
    }

    /// The timestep embedding, plus SDXL's added conditioning: `(1 or batch, time)`.
    fn embedding(&self, timestep: f64, added: Option<&TextTime>, like: &Tensor) -> Result<Tensor> {
        let (dtype, device) = (like.dtype(), like.device());
        let features = self.sinusoidal(&[timestep], self.time_channels, dtype, device)?;
        let time = self.time_linear_2.forward(&candle_nn::ops::silu(
            &self.time_linear_1.forward(&features)?,
        )?)?;
        match (&self.text_time, added) {
            (None, None) => Ok(time),
            (Some(embedding), Some(added)) => {
                let (batch, count) = added.time_ids.dims2()?;
                let ids: Vec<f64> = added
                    .time_ids
                    .to_dtype(DType::F64)?
                    .flatten_all()?
                    .to_vec1()?;
                let times = self
                    .sinusoidal(&ids, embedding.channels, dtype, device)?
                    .reshape((batch, count * embedding.channels))?;
                let input = Tensor::cat(&[&added.text_embeds.to_dtype(dtype)?, &times], 1)?;
                if input.dim(1)? != embedding.input {
                    candle_core::bail!(
                        "text_time conditioning is {} wide; the UNet takes {}",
                        input.dim(1)?,
                        embedding.input
                    );
                }
                let added = embedding
                    .linear_2
                    .forward(&candle_nn::ops::silu(&embedding.linear_1.forward(&input)?)?)?;
                time.broadcast_add(&added)
            }
            (Some(_), None) => {
                candle_core::bail!("this UNet (SDXL) needs text_time conditioning")
            }
            (None, Some(_)) => {
                candle_core::bail!("this UNet takes no text_time conditioning")
            }
        }
    }

    /// The predicted noise for latents `x` `(batch, c, h, w)` at `timestep`, conditioned
    /// on `context` `(batch, tokens, width)`.
    pub fn forward(&self, x: &Tensor, timestep: f64, context: &Tensor) -> Result<Tensor> {
        self.forward_with(x, timestep, context, None)
    }

    /// [`Self::forward`] with SDXL's added conditioning, which SDXL UNets require.
    pub fn forward_with(
        &self,
        x: &Tensor,
        timestep: f64,
        context: &Tensor,
        added: Option<&TextTime>,
    ) -> Result<Tensor> {
        let batch = x.dim(0)?;
        let time = self.embedding(timestep, added, x)?;
        // Every ResNet block takes the embedding through SiLU first.
        let time = candle_nn::ops::silu(&time)?;
        let time = if time.dim(0)? == batch {
            time
        } else {
            time.repeat((batch, 1))?
        };
        let time = Some(&time);

        let x = if self.center_input_sample {
            ((x * 2.0)? - 1.0)?
        } else {
            x.clone()
        };
        let mut x = self.conv_in.forward(&x)?;
        let mut skips = vec![x.clone()];
        for level in &self.down {
            for (j, resnet) in level.resnets.iter().enumerate() {
                x = resnet.forward(&x, time)?;
                if let Some(attention) = level.attentions.get(j) {
                    x = attention.forward(&x, context)?;
                }
                skips.push(x.clone());
            }
            if let Some(down) = &level.resample {
                x = down.forward_downsample(&x)?;
                skips.push(x.clone());
            }
        }
        x = self.mid_resnets[0].forward(&x, time)?;
        for (attention, resnet) in self.mid_attentions.iter().zip(&self.mid_resnets[1..]) {
            x = resnet.forward(&attention.forward(&x, context)?, time)?;
        }
        for level in &self.up {
            for (j, resnet) in level.resnets.iter().enumerate() {
                let skip = skips
                    .pop()
                    .ok_or_else(|| candle_core::Error::Msg("UNet skip stack ran out".into()))?;
                x = resnet.forward(&Tensor::cat(&[&x, &skip], 1)?, time)?;
                if let Some(attention) = level.attentions.get(j) {
                    x = attention.forward(&x, context)?;
                }
            }
            if let Some(up) = &level.resample {
                // Twice the size, unless the latents' sides were not multiples of 2 per
                // level: then the size of the skip the next level joins, as diffusers does.
                let (_, _, h, w) = x.dims4()?;
                let (_, _, skip_h, skip_w) = skips
                    .last()
                    .ok_or_else(|| candle_core::Error::Msg("UNet skip stack ran out".into()))?
                    .dims4()?;
                x = if (skip_h, skip_w) == (2 * h, 2 * w) {
                    up.forward_upsampled(&x)?
                } else {
                    up.forward(&x.upsample_nearest2d(skip_h, skip_w)?)?
                };
            }
        }
        self.conv_out.forward(&self.norm_out.forward(&x, true)?)
    }
}
