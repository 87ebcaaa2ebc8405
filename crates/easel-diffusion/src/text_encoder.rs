//! The CLIP text encoder (`CLIPTextModel`, and `CLIPTextModelWithProjection` for SDXL's
//! second encoder): token and position embeddings, causal pre-norm transformer layers,
//! final layer norm, on Easel's layers. Both activations: `quick_gelu` (OpenAI CLIP,
//! SD 1) and `gelu` (OpenCLIP, SD 2, SD-Turbo, SDXL's second encoder).

use candle_core::{D, Module, Result, Tensor};
use candle_nn::{Embedding, VarBuilder};

use crate::kernels::Activation;
use crate::layers::{LayerNorm, Linear, activate, attention_masked};
use crate::layout::TextEncoderConfig;

struct Layer {
    norm1: LayerNorm,
    /// The query, key and value projections as one layer (one pass over the input).
    qkv: Linear,
    out: Linear,
    norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

/// A loaded text encoder.
pub struct TextEncoder {
    token_embedding: Embedding,
    position_embedding: Embedding,
    layers: Vec<Layer>,
    final_norm: LayerNorm,
    /// `CLIPTextModelWithProjection`: the pooled state's projection (no bias).
    projection: Option<Linear>,
    heads: usize,
    activation: Activation,
    eos_token_id: u32,
}

/// What SDXL takes from a text encoder.
pub struct Penultimate {
    /// The hidden state after all layers but the last, before the final norm:
    /// `(batch, tokens, hidden)`.
    pub hidden: Tensor,
    /// The projected final state at each row's end token: `(batch, projection)`, when
    /// the encoder has a projection.
    pub pooled: Option<Tensor>,
}

impl TextEncoder {
    /// Builds a `CLIPTextModel` from weights under `text_model.`.
    pub fn new(config: &TextEncoderConfig, vb: VarBuilder) -> Result<TextEncoder> {
        Self::load(config, vb, false)
    }

    /// Builds a `CLIPTextModelWithProjection`: [`Self::new`]'s weights and
    /// `text_projection` (`projection_dim` wide).
    pub fn with_projection(config: &TextEncoderConfig, vb: VarBuilder) -> Result<TextEncoder> {
        Self::load(config, vb, true)
    }

    fn load(config: &TextEncoderConfig, vb: VarBuilder, projected: bool) -> Result<TextEncoder> {
        let activation = match config.hidden_act.as_str() {
            "quick_gelu" => Activation::QuickGelu,
            // PyTorch's `gelu` is the exact (erf) form.
            "gelu" => Activation::Gelu,
            other => candle_core::bail!("text encoder activation `{other}` is not supported"),
        };
        let dim = config.hidden_size;
        let eps = config.layer_norm_eps;
        let projection = if projected {
            let Some(width) = config.projection_dim else {
                candle_core::bail!("a text encoder with a projection needs projection_dim");
            };
            Some(Linear::load(vb.pp("text_projection"), (dim, width), false)?)
        } else {
            None
        };
        // transformers 4 saves the weights under `text_model.`; transformers 5 without.
        let vb = if vb.contains_tensor("text_model.embeddings.token_embedding.weight") {
            vb.pp("text_model")
        } else {
            vb
        };
        let embeddings = vb.pp("embeddings");
        let token_embedding =
            candle_nn::embedding(config.vocab_size, dim, embeddings.pp("token_embedding"))?;
        let position_embedding = candle_nn::embedding(
            config.max_position_embeddings,
            dim,
            embeddings.pp("position_embedding"),
        )?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let vb = vb.pp("encoder.layers").pp(i.to_string());
                let attn = vb.pp("self_attn");
                Ok(Layer {
                    norm1: LayerNorm::load(vb.pp("layer_norm1"), dim, eps)?,
                    qkv: Linear::fused(&[
                        &Linear::load(attn.pp("q_proj"), (dim, dim), true)?,
                        &Linear::load(attn.pp("k_proj"), (dim, dim), true)?,
                        &Linear::load(attn.pp("v_proj"), (dim, dim), true)?,
                    ])?,
                    out: Linear::load(attn.pp("out_proj"), (dim, dim), true)?,
                    norm2: LayerNorm::load(vb.pp("layer_norm2"), dim, eps)?,
                    fc1: Linear::load(vb.pp("mlp.fc1"), (dim, config.intermediate_size), true)?,
                    fc2: Linear::load(vb.pp("mlp.fc2"), (config.intermediate_size, dim), true)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let final_norm = LayerNorm::load(vb.pp("final_layer_norm"), dim, eps)?;
        if !dim.is_multiple_of(config.num_attention_heads) {
            candle_core::bail!(
                "hidden_size {dim} is not a multiple of num_attention_heads {}",
                config.num_attention_heads
            );
        }
        Ok(TextEncoder {
            token_embedding,
            position_embedding,
            layers,
            final_norm,
            projection,
            heads: config.num_attention_heads,
            activation,
            eos_token_id: config.eos_token_id,
        })
    }

    /// The last hidden state for a batch of token ids `(batch, tokens)`:
    /// `(batch, tokens, hidden)`.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let mut xs = self.embed(ids)?;
        for layer in &self.layers {
            xs = self.layer(layer, &xs)?;
        }
        self.final_norm.forward(&xs)
    }

    /// What SDXL conditions on (diffusers' `hidden_states[-2]` and `text_embeds`). The
    /// last layer runs only when the pooled projection is asked for and exists.
    pub fn forward_penultimate(&self, ids: &Tensor, pooled: bool) -> Result<Penultimate> {
        let Some((last, others)) = self.layers.split_last() else {
            candle_core::bail!("a text encoder without layers has no penultimate state");
        };
        let mut hidden = self.embed(ids)?;
        for layer in others {
            hidden = self.layer(layer, &hidden)?;
        }
        let pooled = match (&self.projection, pooled) {
            (Some(projection), true) => {
                let last = self.final_norm.forward(&self.layer(last, &hidden)?)?;
                let rows = self
                    .pooled_positions(ids)?
                    .into_iter()
                    .enumerate()
                    .map(|(row, position)| last.get(row)?.get(position))
                    .collect::<Result<Vec<_>>>()?;
                Some(projection.forward(&Tensor::stack(&rows, 0)?)?)
            }
            _ => None,
        };
        Ok(Penultimate { hidden, pooled })
    }

    /// Where each row's end token is, as transformers finds it: with the old
    /// configurations' `eos_token_id` of 2, the largest id (CLIP's end token is the last
    /// of its vocabulary); otherwise the first `eos_token_id` (the first position when
    /// there is none).
    fn pooled_positions(&self, ids: &Tensor) -> Result<Vec<usize>> {
        Ok(ids
            .to_dtype(candle_core::DType::U32)?
            .to_vec2::<u32>()?
            .iter()
            .map(|row| {
                if self.eos_token_id == 2 {
                    // The first of the largest, as argmax takes it.
                    let largest = row.iter().copied().max().unwrap_or(0);
                    row.iter().position(|&id| id == largest).unwrap_or(0)
                } else {
                    row.iter()
                        .position(|&id| id == self.eos_token_id)
                        .unwrap_or(0)
                }
            })
            .collect())
    }

    /// Token plus position embeddings.
    fn embed(&self, ids: &Tensor) -> Result<Tensor> {
        let (_, len) = ids.dims2()?;
        let positions = Tensor::arange(0u32, len as u32, ids.device())?;
        self.token_embedding
            .forward(ids)?
            .broadcast_add(&self.position_embedding.forward(&positions)?)
    }

    /// One pre-norm layer: causal self-attention, then the MLP, each with a residual.
    fn layer(&self, layer: &Layer, xs: &Tensor) -> Result<Tensor> {
        let h = layer.norm1.forward(xs)?;
        let qkv = layer.qkv.forward(&h)?;
        let dim = qkv.dim(D::Minus1)? / 3;
        let (q, k, v) = (
            qkv.narrow(D::Minus1, 0, dim)?,
            qkv.narrow(D::Minus1, dim, dim)?,
            qkv.narrow(D::Minus1, 2 * dim, dim)?,
        );
        let attended = attention_masked(&q, &k, &v, self.heads, true)?;
        let xs = layer.out.forward_residual(&attended, Some(xs))?;
        let h = activate(
            &layer.fc1.forward(&layer.norm2.forward(&xs)?)?,
            self.activation,
        )?;
        layer.fc2.forward_residual(&h, Some(&xs))
    }
}
