//! The CLIP text encoder (`CLIPTextModel`): token and position embeddings, causal
//! pre-norm transformer layers, final layer norm. Written here rather than taken from
//! candle-transformers because its SD variant keeps the configuration private and its
//! general one knows only `quick_gelu`, while SD 2 and SD-Turbo use `gelu`.

use candle_core::{D, DType, Device, Module, Result, Tensor};
use candle_nn::{Embedding, VarBuilder};

use crate::layers::{LayerNorm, Linear};

use crate::layout::TextEncoderConfig;

#[derive(Debug, Clone, Copy)]
enum Activation {
    QuickGelu,
    Gelu,
}

impl Activation {
    fn apply(self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Activation::QuickGelu => xs * candle_nn::ops::sigmoid(&(xs * 1.702)?)?,
            // PyTorch's `gelu` is the exact (erf) form.
            Activation::Gelu => xs.gelu_erf(),
        }
    }
}

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
        let (batch, len) = ids.dims2()?;
        let device = ids.device();
        let positions = Tensor::arange(0u32, len as u32, device)?;
        let mut xs = self
            .token_embedding
            .forward(ids)?
            .broadcast_add(&self.position_embedding.forward(&positions)?)?;
        let mask = causal_mask(len, xs.dtype(), device)?;
        for layer in &self.layers {
            xs = self.layer(layer, &xs, &mask, batch, len)?;
        }
        self.final_norm.forward(&xs)
    }

    fn layer(
        &self,
        layer: &Layer,
        xs: &Tensor,
        mask: &Tensor,
        batch: usize,
        len: usize,
    ) -> Result<Tensor> {
        let dim = xs.dim(D::Minus1)?;
        let head_dim = dim / self.heads;
        let residual = xs;
        let h = layer.norm1.forward(xs)?;
        let split = |t: Tensor| {
            t.reshape((batch, len, self.heads, head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split((layer.q.forward(&h)? * (head_dim as f64).powf(-0.5))?)?;
        let k = split(layer.k.forward(&h)?)?;
        let v = split(layer.v.forward(&h)?)?;
        let scores = q.matmul(&k.t()?)?.broadcast_add(mask)?;
        let weights = candle_nn::ops::softmax_last_dim(&scores)?;
        let attended = weights
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((batch, len, dim))?;
        let xs = (residual + layer.out.forward(&attended)?)?;
        let h = layer.norm2.forward(&xs)?;
        let h = layer
            .fc2
            .forward(&self.activation.apply(&layer.fc1.forward(&h)?)?)?;
        xs + h
    }
}

/// `-inf` above the diagonal: a token attends to itself and earlier tokens.
fn causal_mask(len: usize, dtype: DType, device: &Device) -> Result<Tensor> {
    let values: Vec<f32> = (0..len)
        .flat_map(|i| (0..len).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(values, (len, len), device)?.to_dtype(dtype)
}
