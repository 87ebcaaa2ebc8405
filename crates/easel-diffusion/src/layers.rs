//! The layers Easel's UNet, autoencoder and text encoder are built from — convolution
//! (plain, fused with a bias per image and a residual, after 2× upsampling, diffusers'
//! downsampling), group and layer normalisation, linear, attention, GEGLU feed-forward,
//! the ResNet block — loaded from diffusers-named weights. On the CPU (f32) they run
//! [`crate::kernels`]; on other devices, candle's ops.

use candle_core::{CpuStorage, D, DType, Module, Result, Storage, Tensor};
use candle_nn::VarBuilder;
use candle_nn::init::{DEFAULT_KAIMING_NORMAL, Init};

use crate::kernels::{self, ConvShape};

/// How [`crate::tiny`]'s random models initialise biases (real weights ignore it).
const BIAS_INIT: Init = Init::Uniform { lo: -0.1, up: 0.1 };

/// Loads a weight, which random models initialise as torch does.
fn weight(vb: &VarBuilder, shape: impl Into<candle_core::Shape>) -> Result<Tensor> {
    vb.get_with_hints(shape, "weight", DEFAULT_KAIMING_NORMAL)
}

/// Loads a bias.
fn bias(vb: &VarBuilder, width: usize) -> Result<Tensor> {
    vb.get_with_hints(width, "bias", BIAS_INIT)
}

/// Loads a normalisation's scale (1 in random models) and shift (0).
fn norm_params(vb: &VarBuilder, width: usize) -> Result<(Tensor, Tensor)> {
    Ok((
        vb.get_with_hints(width, "weight", Init::Const(1.0))?,
        vb.get_with_hints(width, "bias", Init::Const(0.0))?,
    ))
}

/// Whether `t` lives where [`crate::kernels`] can work on it.
fn on_cpu(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == DType::F32
}

/// Runs `f` on the values of a contiguous f32 CPU tensor.
fn with_values<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let (storage, layout) = t.storage_and_layout();
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("kernel input is not contiguous")
    };
    match &*storage {
        Storage::Cpu(CpuStorage::F32(values)) => Ok(f(&values[start..end])),
        _ => candle_core::bail!("kernel input is not an f32 CPU tensor"),
    }
}

/// [`with_values`] of an optional tensor.
fn with_optional<R>(t: Option<&Tensor>, f: impl FnOnce(Option<&[f32]>) -> R) -> Result<R> {
    match t {
        Some(t) => with_values(t, |values| f(Some(values))),
        None => Ok(f(None)),
    }
}

/// A 2-D convolution with a square kernel and a bias.
#[derive(Debug, Clone)]
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    kernel: usize,
    stride: usize,
    padding: usize,
}

impl Conv2d {
    /// Loads `weight` and `bias`.
    pub fn load(
        vb: VarBuilder,
        (c_in, c_out): (usize, usize),
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Result<Conv2d> {
        Ok(Conv2d {
            weight: weight(&vb, (c_out, c_in, kernel, kernel))?,
            bias: Some(bias(&vb, c_out)?),
            kernel,
            stride,
            padding,
        })
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.weight.dims()[0]
    }

    /// Applies the convolution to `(batch, c_in, h, w)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_fused(x, None, None)
    }

    /// diffusers' `Downsample2D`: with padding 0 it pads one zero column on the right and
    /// one row at the bottom first (the autoencoder's encoder does).
    pub fn forward_downsample(&self, x: &Tensor) -> Result<Tensor> {
        if self.padding == 0 {
            let padded = x
                .pad_with_zeros(D::Minus1, 0, 1)?
                .pad_with_zeros(D::Minus2, 0, 1)?;
            return self.forward(&padded);
        }
        self.forward(x)
    }

    /// The convolution of `x` `(batch, c_in, h, w)` upsampled 2× (nearest neighbour),
    /// as the decoders' upsamplers do, without making the upsampled image on the CPU.
    pub fn forward_upsampled(&self, x: &Tensor) -> Result<Tensor> {
        let (batch, c_in, height, width) = x.dims4()?;
        if !on_cpu(x) || self.kernel != 3 || self.padding != 1 || self.stride != 1 {
            return self.forward(&x.upsample_nearest2d(2 * height, 2 * width)?);
        }
        let x = x.contiguous()?;
        let c_out = self.out_channels();
        let shape = ConvShape {
            batch,
            c_in,
            c_out,
            height,
            width,
            kernel: 3,
            stride: 1,
            padding: 1,
        };
        let out = with_values(&x, |input| {
            with_values(&self.weight, |weight| {
                with_optional(self.bias.as_ref(), |bias| {
                    kernels::upsample2x_conv3x3(input, weight, bias, shape)
                })
            })
        })???;
        Tensor::from_vec(out, (batch, c_out, 2 * height, 2 * width), x.device())
    }

    /// The convolution plus `extra` `(batch, c_out)` per image and channel, plus
    /// `residual` (shaped like the output), in one pass over the output.
    pub fn forward_fused(
        &self,
        x: &Tensor,
        extra: Option<&Tensor>,
        residual: Option<&Tensor>,
    ) -> Result<Tensor> {
        let c_out = self.out_channels();
        let bias = match (&self.bias, extra) {
            (Some(bias), Some(extra)) => Some(extra.broadcast_add(&bias.unsqueeze(0)?)?),
            (None, Some(extra)) => Some(extra.clone()),
            (bias, None) => bias.clone(),
        };
        if on_cpu(x) {
            let x = x.contiguous()?;
            let (batch, c_in, height, width) = x.dims4()?;
            let shape = ConvShape {
                batch,
                c_in,
                c_out,
                height,
                width,
                kernel: self.kernel,
                stride: self.stride,
                padding: self.padding,
            };
            let bias = bias.map(|b| b.contiguous()).transpose()?;
            let residual = residual.map(|r| r.contiguous()).transpose()?;
            let out = with_values(&x, |input| {
                with_values(&self.weight, |weight| {
                    with_optional(bias.as_ref(), |bias| {
                        with_optional(residual.as_ref(), |residual| {
                            kernels::conv2d(input, weight, bias, residual, shape)
                        })
                    })
                })
            })????;
            let (out_h, out_w) = shape.output();
            return Tensor::from_vec(out, (batch, c_out, out_h, out_w), x.device());
        }
        let y = x.conv2d(&self.weight, self.padding, self.stride, 1, 1)?;
        let y = match bias {
            Some(bias) if bias.rank() == 1 => y.broadcast_add(&bias.reshape((1, c_out, 1, 1))?)?,
            Some(bias) => y.broadcast_add(&bias.unsqueeze(2)?.unsqueeze(3)?)?,
            None => y,
        };
        match residual {
            Some(residual) => y + residual,
            None => Ok(y),
        }
    }
}

/// `(batch, channels, h, w)` pixels as `(batch, h · w, channels)` tokens.
pub fn pixels_to_tokens(x: &Tensor) -> Result<Tensor> {
    let (batch, channels, h, w) = x.dims4()?;
    x.reshape((batch, channels, h * w))?
        .transpose(1, 2)?
        .contiguous()
}

/// [`pixels_to_tokens`] undone, for an image of `h × w`.
pub fn tokens_to_pixels(t: &Tensor, (h, w): (usize, usize)) -> Result<Tensor> {
    let (batch, _, channels) = t.dims3()?;
    t.transpose(1, 2)?.reshape((batch, channels, h, w))
}

/// Group normalisation, optionally followed by SiLU (as every use in these models is).
#[derive(Debug, Clone)]
pub struct GroupNorm {
    weight: Tensor,
    bias: Tensor,
    groups: usize,
    eps: f64,
}

impl GroupNorm {
    /// Loads `weight` and `bias` for `channels`.
    pub fn load(vb: VarBuilder, groups: usize, channels: usize, eps: f64) -> Result<GroupNorm> {
        if !channels.is_multiple_of(groups) {
            candle_core::bail!("{channels} channels do not split into {groups} groups");
        }
        let (weight, bias) = norm_params(&vb, channels)?;
        Ok(GroupNorm {
            weight,
            bias,
            groups,
            eps,
        })
    }

    /// Normalises `(batch, channels, h, w)`, then applies SiLU if `silu`.
    pub fn forward(&self, x: &Tensor, silu: bool) -> Result<Tensor> {
        if on_cpu(x) {
            let x = x.contiguous()?;
            let dims = x.dims().to_vec();
            let channels = dims[1];
            let plane: usize = dims[2..].iter().product();
            let out = with_values(&x, |input| {
                with_values(&self.weight, |gamma| {
                    with_values(&self.bias, |beta| {
                        kernels::group_norm(
                            input,
                            (channels, plane),
                            self.groups,
                            self.eps,
                            gamma,
                            beta,
                            silu,
                        )
                    })
                })
            })???;
            return Tensor::from_vec(out, dims, x.device());
        }
        let channels = self.weight.dim(0)?;
        let y = candle_nn::GroupNorm::new(
            self.weight.clone(),
            self.bias.clone(),
            channels,
            self.groups,
            self.eps,
        )?
        .forward(x)?;
        if silu {
            candle_nn::ops::silu(&y)
        } else {
            Ok(y)
        }
    }
}

/// Layer normalisation over the last dimension.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    /// Loads `weight` and `bias` of `width`.
    pub fn load(vb: VarBuilder, width: usize, eps: f64) -> Result<LayerNorm> {
        let (weight, bias) = norm_params(&vb, width)?;
        Ok(LayerNorm { weight, bias, eps })
    }

    /// Normalises each row of the last dimension.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if on_cpu(x) {
            let x = x.contiguous()?;
            let width = x.dim(D::Minus1)?;
            let out = with_values(&x, |input| {
                with_values(&self.weight, |gamma| {
                    with_values(&self.bias, |beta| {
                        kernels::layer_norm(input, width, self.eps, gamma, beta)
                    })
                })
            })???;
            return Tensor::from_vec(out, x.shape(), x.device());
        }
        // Plain ops (candle's fused layer norm has no kernel for every dtype).
        let mean = x.mean_keepdim(D::Minus1)?;
        let centred = x.broadcast_sub(&mean)?;
        let variance = centred.sqr()?.mean_keepdim(D::Minus1)?;
        centred
            .broadcast_div(&(variance + self.eps)?.sqrt()?)?
            .broadcast_mul(&self.weight)?
            .broadcast_add(&self.bias)
    }
}

/// Up to this many input rows a linear layer is computed transposed (see
/// [`Linear::forward`]): the text encoder's 77 tokens, not the UNet's pixels.
const FEW_ROWS: usize = 256;

/// A linear layer over the last dimension.
#[derive(Debug, Clone)]
pub struct Linear {
    /// `(out, in)`.
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    /// Loads `weight` (and `bias` when `bias`). Accepts 1×1 convolution weights too, as
    /// older autoencoders store their attention projections.
    pub fn load(vb: VarBuilder, (d_in, d_out): (usize, usize), bias: bool) -> Result<Linear> {
        let weight = match weight(&vb, (d_out, d_in)) {
            Ok(weight) => weight,
            Err(_) => self::weight(&vb, (d_out, d_in, 1, 1))?.reshape((d_out, d_in))?,
        };
        let bias = if bias {
            Some(self::bias(&vb, d_out)?)
        } else {
            None
        };
        Ok(Linear { weight, bias })
    }

    /// Several linear layers with the same input as one (their outputs side by side).
    pub fn fused(layers: &[&Linear]) -> Result<Linear> {
        let weights: Vec<&Tensor> = layers.iter().map(|l| &l.weight).collect();
        let biases: Option<Vec<&Tensor>> = layers.iter().map(|l| l.bias.as_ref()).collect();
        Ok(Linear {
            weight: Tensor::cat(&weights, 0)?,
            bias: biases.map(|b| Tensor::cat(&b, 0)).transpose()?,
        })
    }

    /// Applies the layer to `(..., in)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_residual(x, None)
    }

    /// Applies the layer to `(..., in)` and adds `residual` (shaped like the output) in
    /// the same pass over the output.
    pub fn forward_residual(&self, x: &Tensor, residual: Option<&Tensor>) -> Result<Tensor> {
        let (d_out, d_in) = self.weight.dims2()?;
        if on_cpu(x) {
            let x = x.contiguous()?;
            let rows = x.elem_count() / d_in;
            let residual = residual.map(|r| r.contiguous()).transpose()?;
            let out = with_values(&x, |input| {
                with_values(&self.weight, |weight| {
                    with_optional(self.bias.as_ref(), |bias| {
                        with_optional(residual.as_ref(), |residual| {
                            if residual.is_some_and(|r| r.len() != rows * d_out) {
                                candle_core::bail!("residual shape differs from the output's");
                            }
                            if rows <= FEW_ROWS {
                                // Computed transposed, (d_out × rows) = W · xᵀ: gemm then packs
                                // the few activations, not the weights, in the layout it
                                // reads slowly.
                                let mut transposed = vec![0.0f32; rows * d_out];
                                kernels::matmul(
                                    &mut transposed,
                                    rows,
                                    (d_out, rows, d_in),
                                    kernels::MatRef::dense(weight, 0, d_in),
                                    kernels::MatRef::transposed(input, 0, d_in),
                                    1.0,
                                    false,
                                    kernels::Threads::All,
                                );
                                return Ok(kernels::transpose_add(
                                    &transposed,
                                    (d_out, rows),
                                    bias,
                                    residual,
                                ));
                            }
                            let mut out = match residual {
                                Some(residual) => residual.to_vec(),
                                None => vec![0.0f32; rows * d_out],
                            };
                            let onto = residual.is_some();
                            kernels::linear_onto(&mut out, input, weight, bias, d_in, onto);
                            Ok(out)
                        })
                    })
                })
            })?????;
            let mut dims = x.dims().to_vec();
            *dims.last_mut().expect("a last dimension") = d_out;
            return Tensor::from_vec(out, dims, x.device());
        }
        let y = candle_nn::Linear::new(self.weight.clone(), self.bias.clone()).forward(x)?;
        match residual {
            Some(residual) => y + residual,
            None => Ok(y),
        }
    }
}

/// Multi-head scaled dot-product attention of `(batch, queries, heads · dim)` queries
/// over `(batch, keys, heads · dim)` keys and values.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, heads: usize) -> Result<Tensor> {
    attention_masked(q, k, v, heads, false)
}

/// [`attention`], where with `causal` each query sees only the keys up to its position.
pub fn attention_masked(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    heads: usize,
    causal: bool,
) -> Result<Tensor> {
    let (batch, queries, inner) = q.dims3()?;
    let keys = k.dim(1)?;
    let dim = inner / heads;
    let scale = 1.0 / (dim as f64).sqrt();
    if on_cpu(q) {
        let (q, k, v) = (q.contiguous()?, k.contiguous()?, v.contiguous()?);
        let out = with_values(&q, |q| {
            with_values(&k, |k| {
                with_values(&v, |v| {
                    kernels::attention(q, k, v, (batch, queries, keys), heads, scale as f32, causal)
                })
            })
        })???;
        return Tensor::from_vec(out, (batch, queries, inner), q.device());
    }
    #[cfg(feature = "flash-attn")]
    if q.device().is_cuda() && !causal {
        // (batch, tokens, heads, dim) is flash attention's layout: no transposes.
        let heads_view = |t: &Tensor, n: usize| -> Result<Tensor> {
            t.reshape((batch, n, heads, dim))?.to_dtype(DType::F16)
        };
        let out = candle_flash_attn::flash_attn(
            &heads_view(q, queries)?,
            &heads_view(k, keys)?,
            &heads_view(v, keys)?,
            scale as f32,
            false,
        )?;
        return out.reshape((batch, queries, inner))?.to_dtype(q.dtype());
    }
    let split = |t: &Tensor, n: usize| -> Result<Tensor> {
        t.reshape((batch, n, heads, dim))?
            .transpose(1, 2)?
            .contiguous()
    };
    let (q, k, v) = (split(q, queries)?, split(k, keys)?, split(v, keys)?);
    let in_dtype = q.dtype();
    let mut scores = (q
        .to_dtype(DType::F32)?
        .matmul(&k.to_dtype(DType::F32)?.t()?)?
        * scale)?;
    if causal {
        // Query i sees keys 0..=i only.
        let mask: Vec<f32> = (0..queries)
            .flat_map(|i| (0..keys).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
            .collect();
        scores = scores.broadcast_add(&Tensor::from_vec(mask, (queries, keys), q.device())?)?;
    }
    let weights = candle_nn::ops::softmax_last_dim(&scores)?;
    weights
        .matmul(&v.to_dtype(DType::F32)?)?
        .to_dtype(in_dtype)?
        .transpose(1, 2)?
        .reshape((batch, queries, inner))
}

/// diffusers' `Attention`: projections in, multi-head attention, projection out.
#[derive(Debug, Clone)]
pub struct Attention {
    inputs: Inputs,
    to_out: Linear,
    heads: usize,
}

/// The query, key and value projections.
#[derive(Debug, Clone)]
enum Inputs {
    /// Self-attention: the three as one layer (one pass over the input).
    Fused(Linear),
    /// Cross-attention: keys and values come from the context.
    Separate {
        to_q: Linear,
        to_k: Linear,
        to_v: Linear,
    },
}

impl Attention {
    /// Loads `to_q`, `to_k`, `to_v`, `to_out.0` (or the older `query`, `key`, `value`,
    /// `proj_attn`). `context` is the key/value input width for cross-attention.
    pub fn load(
        vb: VarBuilder,
        dim: usize,
        context: Option<usize>,
        heads: usize,
        qkv_bias: bool,
    ) -> Result<Attention> {
        let names = if vb.contains_tensor("query.weight") {
            ["query", "key", "value", "proj_attn"]
        } else {
            ["to_q", "to_k", "to_v", "to_out.0"]
        };
        let source = context.unwrap_or(dim);
        let to_q = Linear::load(vb.pp(names[0]), (dim, dim), qkv_bias)?;
        let to_k = Linear::load(vb.pp(names[1]), (source, dim), qkv_bias)?;
        let to_v = Linear::load(vb.pp(names[2]), (source, dim), qkv_bias)?;
        let inputs = match context {
            None => Inputs::Fused(Linear::fused(&[&to_q, &to_k, &to_v])?),
            Some(_) => Inputs::Separate { to_q, to_k, to_v },
        };
        Ok(Attention {
            inputs,
            to_out: Linear::load(vb.pp(names[3]), (dim, dim), true)?,
            heads,
        })
    }

    /// Attends from `x` `(batch, tokens, dim)` to itself (self-attention) or to `context`
    /// (cross-attention).
    pub fn forward(&self, x: &Tensor, context: Option<&Tensor>) -> Result<Tensor> {
        self.forward_residual(x, context, None)
    }

    /// [`Self::forward`] plus `residual`, added by the output projection.
    pub fn forward_residual(
        &self,
        x: &Tensor,
        context: Option<&Tensor>,
        residual: Option<&Tensor>,
    ) -> Result<Tensor> {
        let (q, k, v) = match (&self.inputs, context) {
            (Inputs::Fused(qkv), None) => {
                let fused = qkv.forward(x)?;
                let dim = fused.dim(D::Minus1)? / 3;
                (
                    fused.narrow(D::Minus1, 0, dim)?,
                    fused.narrow(D::Minus1, dim, dim)?,
                    fused.narrow(D::Minus1, 2 * dim, dim)?,
                )
            }
            (Inputs::Separate { to_q, to_k, to_v }, Some(context)) => (
                to_q.forward(x)?,
                to_k.forward(context)?,
                to_v.forward(context)?,
            ),
            (Inputs::Fused(_), Some(_)) => {
                candle_core::bail!("a self-attention layer was given a context")
            }
            (Inputs::Separate { .. }, None) => {
                candle_core::bail!("a cross-attention layer needs a context")
            }
        };
        self.to_out
            .forward_residual(&attention(&q, &k, &v, self.heads)?, residual)
    }
}

/// `activation` of `x`.
pub fn activate(x: &Tensor, activation: kernels::Activation) -> Result<Tensor> {
    if on_cpu(x) {
        let x = x.contiguous()?;
        let mut values = with_values(&x, |v| v.to_vec())?;
        kernels::activate(&mut values, activation);
        return Tensor::from_vec(values, x.shape(), x.device());
    }
    match activation {
        kernels::Activation::Gelu => x.gelu_erf(),
        kernels::Activation::QuickGelu => x * candle_nn::ops::sigmoid(&(x * 1.702)?)?,
        kernels::Activation::Silu => candle_nn::ops::silu(x),
        kernels::Activation::Sigmoid => candle_nn::ops::sigmoid(x),
    }
}

/// diffusers' GEGLU feed-forward: a projection to twice the inner width, the first half
/// gated by the GELU of the second, and a projection back.
#[derive(Debug, Clone)]
pub struct FeedForward {
    project_in: Linear,
    project_out: Linear,
}

impl FeedForward {
    /// Loads `net.0.proj` and `net.2` for `dim` with a 4× inner width.
    pub fn load(vb: VarBuilder, dim: usize) -> Result<FeedForward> {
        let inner = 4 * dim;
        Ok(FeedForward {
            project_in: Linear::load(vb.pp("net.0.proj"), (dim, 2 * inner), true)?,
            project_out: Linear::load(vb.pp("net.2"), (inner, dim), true)?,
        })
    }

    /// Applies it to `(..., dim)` and adds `residual`.
    pub fn forward_residual(&self, x: &Tensor, residual: &Tensor) -> Result<Tensor> {
        let (width, d_in) = self.project_in.weight.dims2()?;
        let inner = width / 2;
        let gated = if on_cpu(x) {
            let x = x.contiguous()?;
            let rows = x.elem_count() / d_in;
            let out = if rows <= FEW_ROWS {
                // Few rows: the projection's transposed form (see `Linear::forward`).
                let projected = self.project_in.forward(&x)?;
                with_values(&projected, |values| kernels::geglu(values, inner))?
            } else {
                with_values(&x, |input| {
                    with_values(&self.project_in.weight, |weight| {
                        with_optional(self.project_in.bias.as_ref(), |bias| {
                            kernels::project_geglu(input, weight, bias, inner)
                        })
                    })
                })???
            };
            let mut dims = x.dims().to_vec();
            *dims.last_mut().expect("a last dimension") = inner;
            Tensor::from_vec(out, dims, x.device())?
        } else {
            let projected = self.project_in.forward(x)?;
            let value = projected.narrow(D::Minus1, 0, inner)?;
            let gate = projected.narrow(D::Minus1, inner, inner)?;
            (value * gate.gelu_erf()?)?
        };
        self.project_out.forward_residual(&gated, Some(residual))
    }
}

/// A ResNet block conditioned on the time embedding.
#[derive(Debug)]
pub struct ResnetBlock {
    norm1: GroupNorm,
    conv1: Conv2d,
    time_emb_proj: Option<Linear>,
    norm2: GroupNorm,
    conv2: Conv2d,
    shortcut: Option<Conv2d>,
}

impl ResnetBlock {
    /// Loads a block from `c_in` to `c_out` channels; `time` is the time embedding's
    /// width (none in the autoencoder).
    pub fn load(
        vb: VarBuilder,
        (c_in, c_out): (usize, usize),
        time: Option<usize>,
        groups: usize,
        eps: f64,
    ) -> Result<ResnetBlock> {
        Ok(ResnetBlock {
            norm1: GroupNorm::load(vb.pp("norm1"), groups, c_in, eps)?,
            conv1: Conv2d::load(vb.pp("conv1"), (c_in, c_out), 3, 1, 1)?,
            time_emb_proj: time
                .map(|t| Linear::load(vb.pp("time_emb_proj"), (t, c_out), true))
                .transpose()?,
            norm2: GroupNorm::load(vb.pp("norm2"), groups, c_out, eps)?,
            conv2: Conv2d::load(vb.pp("conv2"), (c_out, c_out), 3, 1, 1)?,
            shortcut: if c_in == c_out {
                None
            } else {
                Some(Conv2d::load(
                    vb.pp("conv_shortcut"),
                    (c_in, c_out),
                    1,
                    1,
                    0,
                )?)
            },
        })
    }

    /// `x` `(batch, c_in, h, w)`; `time` the SiLU of the time embedding `(batch, t)`.
    pub fn forward(&self, x: &Tensor, time: Option<&Tensor>) -> Result<Tensor> {
        let shift = match (&self.time_emb_proj, time) {
            (Some(proj), Some(time)) => Some(proj.forward(time)?),
            _ => None,
        };
        let h = self
            .conv1
            .forward_fused(&self.norm1.forward(x, true)?, shift.as_ref(), None)?;
        let skip = match &self.shortcut {
            Some(conv) => conv.forward(x)?,
            None => x.clone(),
        };
        self.conv2
            .forward_fused(&self.norm2.forward(&h, true)?, None, Some(&skip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeded(shape: &[usize], seed: u32) -> Tensor {
        let n: usize = shape.iter().product();
        let values: Vec<f32> = (0..n as u32)
            .map(|i| ((i.wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        Tensor::from_vec(values, shape, &candle_core::Device::Cpu).unwrap()
    }

    fn largest_difference(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    /// A linear layer with a residual, computed both ways (few rows transposed, many
    /// rows directly), matches candle's plain matrix product plus bias plus residual.
    #[test]
    fn linear_with_residual_matches_the_plain_product() {
        let (d_in, d_out) = (24, 40);
        let weight = seeded(&[d_out, d_in], 1);
        let bias = seeded(&[d_out], 2);
        let layer = Linear {
            weight: weight.clone(),
            bias: Some(bias.clone()),
        };
        for rows in [FEW_ROWS - 3, FEW_ROWS + 5] {
            let x = seeded(&[1, rows, d_in], 3);
            let residual = seeded(&[1, rows, d_out], 4);
            let plain = x
                .broadcast_matmul(&weight.t().unwrap())
                .unwrap()
                .broadcast_add(&bias)
                .unwrap();
            let expected = (&plain + &residual).unwrap();
            let got = layer.forward_residual(&x, Some(&residual)).unwrap();
            let difference = largest_difference(&got, &expected);
            assert!(difference < 1e-4, "{rows} rows: off by {difference}");
            let difference = largest_difference(&layer.forward(&x).unwrap(), &plain);
            assert!(
                difference < 1e-4,
                "{rows} rows without residual: off by {difference}"
            );
        }
    }

    /// The GEGLU feed-forward, on few rows and on more than a block of rows, matches
    /// candle's ops: projection, value times the erf GELU of the gate, projection back,
    /// residual.
    #[test]
    fn feed_forward_matches_candles_ops() {
        let (dim, inner) = (16, 64);
        let project_in = Linear {
            weight: seeded(&[2 * inner, dim], 5),
            bias: Some(seeded(&[2 * inner], 6)),
        };
        let project_out = Linear {
            weight: seeded(&[dim, inner], 7),
            bias: Some(seeded(&[dim], 8)),
        };
        let plain = |layer: &Linear, x: &Tensor| {
            x.broadcast_matmul(&layer.weight.t().unwrap())
                .unwrap()
                .broadcast_add(layer.bias.as_ref().unwrap())
                .unwrap()
        };
        let ff = FeedForward {
            project_in: project_in.clone(),
            project_out: project_out.clone(),
        };
        for rows in [FEW_ROWS - 1, 2 * FEW_ROWS + 7] {
            let x = seeded(&[1, rows, dim], 9);
            let residual = seeded(&[1, rows, dim], 10);
            let projected = plain(&project_in, &x);
            let value = projected.narrow(D::Minus1, 0, inner).unwrap();
            let gate = projected.narrow(D::Minus1, inner, inner).unwrap();
            let gated = (value * gate.gelu_erf().unwrap()).unwrap();
            let expected = (plain(&project_out, &gated) + &residual).unwrap();
            let got = ff.forward_residual(&x, &residual).unwrap();
            let difference = largest_difference(&got, &expected);
            assert!(difference < 1e-4, "{rows} rows: off by {difference}");
        }
    }
}
