//! The autoencoder (`AutoencoderKL`) between pixels and latents, built from
//! [`crate::layers`]. Encoding returns the latent distribution's mean (not a random
//! sample), so a seed's output is identical from run to run.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use crate::layers::{
    Attention, Conv2d, GroupNorm, ResnetBlock, pixels_to_tokens, tokens_to_pixels,
};
use crate::layout::VaeConfig;

/// The autoencoder's normalisation epsilon.
const EPS: f64 = 1e-6;

/// Single-head self-attention over the pixels, with a residual.
struct PixelAttention {
    norm: GroupNorm,
    attention: Attention,
}

impl PixelAttention {
    fn load(vb: VarBuilder, channels: usize, groups: usize) -> Result<Self> {
        Ok(PixelAttention {
            norm: GroupNorm::load(vb.pp("group_norm"), groups, channels, EPS)?,
            attention: Attention::load(vb, channels, None, 1, true)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        let tokens = pixels_to_tokens(&self.norm.forward(x, false)?)?;
        let attended = self.attention.forward(&tokens, None)?;
        tokens_to_pixels(&attended, (h, w))? + x
    }
}

/// ResNet, attention, ResNet at the lowest resolution.
struct Middle {
    first: ResnetBlock,
    attention: PixelAttention,
    second: ResnetBlock,
}

impl Middle {
    fn load(vb: VarBuilder, channels: usize, groups: usize) -> Result<Self> {
        let resnet = |i: &str| {
            ResnetBlock::load(
                vb.pp("resnets").pp(i),
                (channels, channels),
                None,
                groups,
                EPS,
            )
        };
        Ok(Middle {
            first: resnet("0")?,
            attention: PixelAttention::load(vb.pp("attentions.0"), channels, groups)?,
            second: resnet("1")?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = self.first.forward(x, None)?;
        let x = self.attention.forward(&x)?;
        self.second.forward(&x, None)
    }
}

/// ResNet blocks at one resolution, then a resampling convolution (except last).
struct Level {
    resnets: Vec<ResnetBlock>,
    resample: Option<Conv2d>,
}

impl Level {
    fn load(
        vb: VarBuilder,
        (c_in, c_out): (usize, usize),
        layers: usize,
        groups: usize,
        resample: Option<(&str, usize, usize)>,
    ) -> Result<Self> {
        let resnets = (0..layers)
            .map(|j| {
                let input = if j == 0 { c_in } else { c_out };
                ResnetBlock::load(
                    vb.pp("resnets").pp(j.to_string()),
                    (input, c_out),
                    None,
                    groups,
                    EPS,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let resample = resample
            .map(|(name, stride, padding)| {
                Conv2d::load(vb.pp(name), (c_out, c_out), 3, stride, padding)
            })
            .transpose()?;
        Ok(Level { resnets, resample })
    }

    fn resnets(&self, mut x: Tensor) -> Result<Tensor> {
        for resnet in &self.resnets {
            x = resnet.forward(&x, None)?;
        }
        Ok(x)
    }
}

struct Encoder {
    conv_in: Conv2d,
    down: Vec<Level>,
    mid: Middle,
    norm_out: GroupNorm,
    conv_out: Conv2d,
    quant_conv: Option<Conv2d>,
}

struct Decoder {
    post_quant_conv: Option<Conv2d>,
    conv_in: Conv2d,
    mid: Middle,
    up: Vec<Level>,
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
        let levels = channels.len();

        let enc = vb.pp("encoder");
        let down = channels
            .iter()
            .enumerate()
            .map(|(i, &out)| {
                let input = if i == 0 { first } else { channels[i - 1] };
                // diffusers pads the right and bottom by one, then convolves unpadded.
                let resample = (i + 1 < levels).then_some(("downsamplers.0.conv", 2, 0));
                let vb = enc.pp("down_blocks").pp(i.to_string());
                Level::load(vb, (input, out), config.layers_per_block, groups, resample)
            })
            .collect::<Result<Vec<_>>>()?;
        let one_by_one = |name: &str, c: usize| Conv2d::load(vb.pp(name), (c, c), 1, 1, 0);
        let encoder = Encoder {
            conv_in: Conv2d::load(enc.pp("conv_in"), (3, first), 3, 1, 1)?,
            down,
            mid: Middle::load(enc.pp("mid_block"), last, groups)?,
            norm_out: GroupNorm::load(enc.pp("conv_norm_out"), groups, last, EPS)?,
            conv_out: Conv2d::load(enc.pp("conv_out"), (last, 2 * latent), 3, 1, 1)?,
            quant_conv: config
                .use_quant_conv
                .then(|| one_by_one("quant_conv", 2 * latent))
                .transpose()?,
        };

        let dec = vb.pp("decoder");
        let reversed: Vec<usize> = channels.iter().rev().copied().collect();
        let up = reversed
            .iter()
            .enumerate()
            .map(|(i, &out)| {
                let input = if i == 0 { reversed[0] } else { reversed[i - 1] };
                let resample = (i + 1 < levels).then_some(("upsamplers.0.conv", 1, 1));
                let vb = dec.pp("up_blocks").pp(i.to_string());
                Level::load(
                    vb,
                    (input, out),
                    config.layers_per_block + 1,
                    groups,
                    resample,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let decoder = Decoder {
            post_quant_conv: config
                .use_post_quant_conv
                .then(|| one_by_one("post_quant_conv", latent))
                .transpose()?,
            conv_in: Conv2d::load(dec.pp("conv_in"), (latent, last), 3, 1, 1)?,
            mid: Middle::load(dec.pp("mid_block"), last, groups)?,
            up,
            norm_out: GroupNorm::load(dec.pp("conv_norm_out"), groups, first, EPS)?,
            conv_out: Conv2d::load(dec.pp("conv_out"), (first, 3), 3, 1, 1)?,
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
        for level in &e.down {
            xs = level.resnets(xs)?;
            if let Some(conv) = &level.resample {
                xs = conv.forward_downsample(&xs)?;
            }
        }
        let xs = e.mid.forward(&xs)?;
        let mut moments = e.conv_out.forward(&e.norm_out.forward(&xs, true)?)?;
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
        let mut xs = d.mid.forward(&d.conv_in.forward(&xs)?)?;
        for level in &d.up {
            xs = level.resnets(xs)?;
            if let Some(conv) = &level.resample {
                xs = conv.forward_upsampled(&xs)?;
            }
        }
        d.conv_out.forward(&d.norm_out.forward(&xs, true)?)
    }
}
