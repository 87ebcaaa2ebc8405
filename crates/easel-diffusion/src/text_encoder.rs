//! The CLIP text encoder (`CLIPTextModel`): token and position embeddings, causal
//! pre-norm transformer layers, final layer norm, on Easel's layers. Both activations:
//! `quick_gelu` (OpenAI CLIP, SD 1) and `gelu` (OpenCLIP, SD 2 and SD-Turbo).

use candle_core::{Module, Result, Tensor};
use candle_nn::{Embedding, VarBuilder};

use crate::kernels::Activation;
use crate::layers::{LayerNorm, Linear, activate, attention_masked};
use crate::layout::TextEncoderConfig;

struct Layer {
    norm1: LayerNorm,
    q: Linear,
    k: Linear,
    v: Linear,
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
    heads: usize,
    activation: Activation,
}

impl TextEncoder {
    /// Builds the encoder from weights under `text_model.`.
    pub fn new(config: &TextEncoderConfig, vb: VarBuilder) -> Result<TextEncoder> {
        let activation = match config.hidden_act.as_str() {
            "quick_gelu" => Activation::QuickGelu,
            // PyTorch's `gelu` is the exact (erf) form.
            "gelu" => Activation::Gelu,
            other => candle_core::bail!("text encoder activation `{other}` is not supported"),
        };
        let dim = config.hidden_size;
        let eps = config.layer_norm_eps;
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
                    q: Linear::load(attn.pp("q_proj"), (dim, dim), true)?,
                    k: Linear::load(attn.pp("k_proj"), (dim, dim), true)?,
                    v: Linear::load(attn.pp("v_proj"), (dim, dim), true)?,
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
            heads: config.num_attention_heads,
            activation,
        })
    }

    /// The last hidden state for a batch of token ids `(batch, tokens)`:
    /// `(batch, tokens, hidden)`.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let (_, len) = ids.dims2()?;
        let positions = Tensor::arange(0u32, len as u32, ids.device())?;
        let mut xs = self
            .token_embedding
            .forward(ids)?
            .broadcast_add(&self.position_embedding.forward(&positions)?)?;
        for layer in &self.layers {
            xs = self.layer(layer, &xs)?;
        }
        self.final_norm.forward(&xs)
    }

    /// One pre-norm layer: causal self-attention, then the MLP, each with a residual.
    fn layer(&self, layer: &Layer, xs: &Tensor) -> Result<Tensor> {
        let h = layer.norm1.forward(xs)?;
        let (q, k, v) = (
            layer.q.forward(&h)?,
            layer.k.forward(&h)?,
            layer.v.forward(&h)?,
        );
        let attended = attention_masked(&q, &k, &v, self.heads, true)?;
        let xs = (xs + layer.out.forward(&attended)?)?;
        let h = activate(
            &layer.fc1.forward(&layer.norm2.forward(&xs)?)?,
            self.activation,
        )?;
        xs + layer.fc2.forward(&h)?
    }
}
