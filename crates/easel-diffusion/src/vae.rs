//! The autoencoder (`AutoencoderKL`) between pixels and latents, assembled from
//! candle-transformers' blocks. Assembled here because candle's `AutoEncoderKL` only
//! returns a randomly sampled latent (from an unseeded generator); encoding to the
//! distribution's mean keeps a seed's output identical from run to run.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, GroupNorm, VarBuilder};
use candle_transformers::models::stable_diffusion::unet_2d_blocks::{
    DownEncoderBlock2D, DownEncoderBlock2DConfig, UNetMidBlock2D, UNetMidBlock2DConfig,
    UpDecoderBlock2D, UpDecoderBlock2DConfig,
};

use crate::layout::VaeConfig;

struct Encoder {
    conv_in: Conv2d,
    down: Vec<DownEncoderBlock2D>,
    mid: UNetMidBlock2D,
    norm_out: GroupNorm,
    conv_out: Conv2d,
    quant_conv: Option<Conv2d>,
}

struct Decoder {
    post_quant_conv: Option<Conv2d>,
    conv_in: Conv2d,
    mid: UNetMidBlock2D,
    up: Vec<UpDecoderBlock2D>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
}

/// A loaded autoencoder.
pub struct Vae {
    encoder: Encoder,
    decoder: Decoder,
    latent_channels: usize,
    /// Latents are multiplied by this for the UNet.
    pub scaling_factor: f64,
}

fn padded() -> Conv2dConfig {
    Conv2dConfig {
        padding: 1,
        ..Default::default()
    }
}

fn mid_block(vb: VarBuilder, channels: usize, groups: usize) -> Result<UNetMidBlock2D> {
    let config = UNetMidBlock2DConfig {
        resnet_eps: 1e-6,
        output_scale_factor: 1.0,
        attn_num_head_channels: None,
        resnet_groups: Some(groups),
        ..Default::default()
    };
    UNetMidBlock2D::new(vb, channels, None, config)
}

impl Vae {
    /// Builds both halves from weights laid out as diffusers saves them.
    pub fn new(config: &VaeConfig, vb: VarBuilder) -> Result<Vae> {
        let channels = &config.block_out_channels;
        let (first, last) = match (channels.first(), channels.last()) {
            (Some(first), Some(last)) => (*first, *last),
            _ => candle_core::bail!("vae/config.json has no block_out_channels"),
        };
        let groups = config.norm_num_groups;
        let latent = config.latent_channels;

        let enc = vb.pp("encoder");
        let down = channels
            .iter()
            .enumerate()
            .map(|(i, &out)| {
                let input = if i == 0 { first } else { channels[i - 1] };
                let block = DownEncoderBlock2DConfig {
                    num_layers: config.layers_per_block,
                    resnet_eps: 1e-6,
                    resnet_groups: groups,
                    add_downsample: i + 1 < channels.len(),
                    downsample_padding: 0,
                    ..Default::default()
                };
                DownEncoderBlock2D::new(enc.pp("down_blocks").pp(i.to_string()), input, out, block)
            })
            .collect::<Result<Vec<_>>>()?;
        let encoder = Encoder {
            conv_in: candle_nn::conv2d(3, first, 3, padded(), enc.pp("conv_in"))?,
            down,
            mid: mid_block(enc.pp("mid_block"), last, groups)?,
            norm_out: candle_nn::group_norm(groups, last, 1e-6, enc.pp("conv_norm_out"))?,
            conv_out: candle_nn::conv2d(last, 2 * latent, 3, padded(), enc.pp("conv_out"))?,
            quant_conv: if config.use_quant_conv {
                Some(candle_nn::conv2d(
                    2 * latent,
                    2 * latent,
                    1,
                    Default::default(),
                    vb.pp("quant_conv"),
                )?)
            } else {
                None
            },
        };

        let dec = vb.pp("decoder");
        let reversed: Vec<usize> = channels.iter().rev().copied().collect();
        let up = reversed
            .iter()
            .enumerate()
            .map(|(i, &out)| {
                let input = if i == 0 { reversed[0] } else { reversed[i - 1] };
                let block = UpDecoderBlock2DConfig {
                    num_layers: config.layers_per_block + 1,
                    resnet_eps: 1e-6,
                    resnet_groups: groups,
                    add_upsample: i + 1 < reversed.len(),
                    ..Default::default()
                };
                UpDecoderBlock2D::new(dec.pp("up_blocks").pp(i.to_string()), input, out, block)
            })
            .collect::<Result<Vec<_>>>()?;
        let decoder = Decoder {
            post_quant_conv: if config.use_post_quant_conv {
                Some(candle_nn::conv2d(
                    latent,
                    latent,
                    1,
                    Default::default(),
                    vb.pp("post_quant_conv"),
                )?)
            } else {
                None
            },
            conv_in: candle_nn::conv2d(latent, last, 3, padded(), dec.pp("conv_in"))?,
            mid: mid_block(dec.pp("mid_block"), last, groups)?,
            up,
            norm_out: candle_nn::group_norm(groups, first, 1e-6, dec.pp("conv_norm_out"))?,
            conv_out: candle_nn::conv2d(first, 3, 3, padded(), dec.pp("conv_out"))?,
        };
        Ok(Vae {
            encoder,
            decoder,
            latent_channels: latent,
            scaling_factor: config.scaling_factor,
        })
    }

    /// The latent distribution's mean for images in [-1, 1], `(batch, 3, h, w)`, scaled
    /// for the UNet.
    pub fn encode(&self, pixels: &Tensor) -> Result<Tensor> {
        let e = &self.encoder;
        let mut xs = e.conv_in.forward(pixels)?;
        for block in &e.down {
            xs = block.forward(&xs)?;
        }
        let xs = e.mid.forward(&xs, None)?;
        let xs = candle_nn::ops::silu(&e.norm_out.forward(&xs)?)?;
        let mut moments = e.conv_out.forward(&xs)?;
        if let Some(quant) = &e.quant_conv {
            moments = quant.forward(&moments)?;
        }
        // The first half of the channels is the mean, the second the log-variance.
        moments.narrow(1, 0, self.latent_channels)? * self.scaling_factor
    }

    /// Pixels in [-1, 1] for UNet-scaled latents.
    pub fn decode(&self, latents: &Tensor) -> Result<Tensor> {
        let d = &self.decoder;
        let mut xs = (latents / self.scaling_factor)?;
        if let Some(post) = &d.post_quant_conv {
            xs = post.forward(&xs)?;
        }
        let mut xs = d.mid.forward(&d.conv_in.forward(&xs)?, None)?;
        for block in &d.up {
            xs = block.forward(&xs)?;
        }
        let xs = candle_nn::ops::silu(&d.norm_out.forward(&xs)?)?;
        d.conv_out.forward(&xs)
    }
}
