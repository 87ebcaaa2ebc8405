//! A loaded Stable Diffusion or SDXL model and one generation with it: text-to-image,
//! image-to-image and inpainting (a 9-channel inpainting UNet, or any UNet by blending
//! the kept area back in at every step), with per-step progress and cancellation.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use image::{GrayImage, RgbImage};

use crate::DiffusionError;
use crate::layout::{self, Family, ModelFiles, PipelineKind};
use crate::scheduler::{Noise, Schedule};
use crate::text_encoder::TextEncoder;
use crate::tokenizer::ClipTokenizer;
use crate::unet::{TextTime, UNet};
use crate::vae::Vae;

/// What to generate from.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Noise.
    TextToImage,
    /// An image, noised by `strength` (0 keeps it, 1 replaces it).
    ImageToImage {
        /// The starting image, at the output size.
        image: RgbImage,
        /// How much of the schedule to run, in (0, 1].
        strength: f64,
    },
    /// An image whose masked pixels (non-zero in `mask`) are regenerated; the others
    /// come out unchanged.
    Inpaint {
        /// The image, at the output size.
        image: RgbImage,
        /// Non-zero where pixels are to be regenerated.
        mask: GrayImage,
    },
}

/// One generation's parameters.
#[derive(Debug, Clone)]
pub struct Job {
    /// The prompt.
    pub prompt: String,
    /// What to steer away from (used when `guidance > 1`).
    pub negative: String,
    /// Output width, a multiple of [`Pipeline::size_multiple`].
    pub width: usize,
    /// Output height, a multiple of [`Pipeline::size_multiple`].
    pub height: usize,
    /// Sampling steps (of the whole schedule; image-to-image runs the last part).
    pub steps: usize,
    /// Classifier-free guidance scale; 1 or less turns guidance off (turbo models).
    pub guidance: f64,
    /// The seed of every random draw.
    pub seed: u64,
    /// What to start from.
    pub mode: Mode,
}

/// Where one generation's time went, for benchmarks and logs.
#[derive(Debug, Clone, Default)]
pub struct Timings {
    /// Tokenizing and encoding the prompts.
    pub text: std::time::Duration,
    /// Encoding input images (image-to-image, inpainting).
    pub encode: std::time::Duration,
    /// Each denoising step (UNet and sampler).
    pub steps: Vec<std::time::Duration>,
    /// Decoding the latents to pixels.
    pub decode: std::time::Duration,
}

/// A tokenizer and the text encoder it feeds.
struct Encoder {
    tokenizer: ClipTokenizer,
    model: TextEncoder,
}

/// A loaded model: weights in memory, ready for any number of generations.
pub struct Pipeline {
    kind: PipelineKind,
    family: Family,
    device: Device,
    dtype: DType,
    /// The text encoder (SDXL: the first of two).
    text: Encoder,
    /// SDXL's second text encoder, with its pooled projection: the UNet attends to both
    /// encoders' penultimate states side by side and takes the pooled projection and the
    /// image size as `text_time` conditioning.
    text_2: Option<Encoder>,
    /// SDXL: an empty negative prompt conditions on zeros (diffusers'
    /// `force_zeros_for_empty_prompt`).
    zeros_for_empty_negative: bool,
    unet: UNet,
    vae: Vae,
    /// The autoencoder's precision: SDXL's overflows in f16, so it runs in f32 there.
    vae_dtype: DType,
    vae_scale: usize,
    latent_channels: usize,
    scheduler: crate::layout::SchedulerConfig,
    weight_bytes: u64,
}

/// Pixels in [-1, 1] as a `(1, 3, h, w)` tensor.
fn image_tensor(image: &RgbImage, dtype: DType, device: &Device) -> candle_core::Result<Tensor> {
    let (w, h) = image.dimensions();
    let values: Vec<f32> = image
        .as_raw()
        .iter()
        .map(|&v| f32::from(v) / 127.5 - 1.0)
        .collect();
    Tensor::from_vec(values, (h as usize, w as usize, 3), device)?
        .permute((2, 0, 1))?
        .unsqueeze(0)?
        .to_dtype(dtype)
}

/// A `(1, 1, h/scale, w/scale)` latent mask: 1 where any pixel of the cell is masked.
fn latent_mask(
    mask: &GrayImage,
    scale: usize,
    dtype: DType,
    device: &Device,
) -> candle_core::Result<Tensor> {
    let (w, h) = (
        mask.width() as usize / scale,
        mask.height() as usize / scale,
    );
    let values: Vec<f32> = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .map(|(x, y)| {
            let any = (0..scale).any(|dy| {
                (0..scale).any(|dx| {
                    mask.get_pixel((x * scale + dx) as u32, (y * scale + dy) as u32)
                        .0[0]
                        != 0
                })
            });
            if any { 1.0 } else { 0.0 }
        })
        .collect();
    Tensor::from_vec(values, (1, 1, h, w), device)?.to_dtype(dtype)
}

impl Pipeline {
    /// Loads every component of `files` onto `device` (f16 on GPUs, f32 on the CPU).
    pub fn load(files: &ModelFiles, device: &Device) -> Result<Pipeline, DiffusionError> {
        let dtype = if device.is_cpu() {
            DType::F32
        } else {
            DType::F16
        };
        let bad = |message: String| DiffusionError::BadModel {
            dir: files.dir.clone(),
            message,
        };
        let vae_dtype = if files.family == Family::StableDiffusionXl && files.vae.force_upcast {
            DType::F32
        } else {
            dtype
        };
        // A weight file that cannot be read as safetensors is a bad model, said as such
        // (the error names the file), not a failure of the computation.
        let weights = |path: &std::path::Path, dtype: DType| {
            crate::weights::read(path, dtype, device).map_err(|e| bad(e.to_string()))
        };
        let encoder = |files: &layout::TextEncoder, name: &str, projected: bool| {
            let config = &files.config;
            let pad = files.tokenizer.pad_token();
            let max_len = files
                .tokenizer
                .max_length()
                .filter(|&n| n <= config.max_position_embeddings)
                .unwrap_or(config.max_position_embeddings);
            let tokenizer = ClipTokenizer::load(&files.tokenizer_files, pad.as_deref(), max_len)?;
            let vb = weights(&files.weights, dtype)?;
            let model = if projected {
                TextEncoder::with_projection(config, vb)
            } else {
                TextEncoder::new(config, vb)
            }
            .map_err(|e| bad(format!("{name}: {e}")))?;
            Ok::<_, DiffusionError>((Encoder { tokenizer, model }, max_len))
        };
        let (text, text_len) = encoder(&files.text_encoder, "text_encoder", false)?;
        let text_2 = match &files.text_encoder_2 {
            None => None,
            Some(second) => {
                let (second, second_len) = encoder(second, "text_encoder_2", true)?;
                check_xl_widths(files, text_len, second_len).map_err(bad)?;
                Some(second)
            }
        };
        let unet = UNet::load(weights(&files.unet_weights, dtype)?, &files.unet)
            .map_err(|e| bad(format!("unet: {e}")))?;
        let vae = Vae::new(&files.vae, weights(&files.vae_weights, vae_dtype)?)
            .map_err(|e| bad(format!("vae: {e}")))?;
        // Validates the schedule once, so a bad config fails at load, not per request.
        Schedule::new(&files.scheduler, 1).map_err(|e| bad(format!("scheduler: {e}")))?;
        Ok(Pipeline {
            kind: files.kind,
            family: files.family,
            device: device.clone(),
            dtype,
            text,
            text_2,
            zeros_for_empty_negative: files.zeros_for_empty_negative,
            unet,
            vae,
            vae_dtype,
            vae_scale: files.vae.scale_factor(),
            latent_channels: files.vae.latent_channels,
            scheduler: files.scheduler.clone(),
            weight_bytes: files.weight_bytes(),
        })
    }

    /// Output sides must be multiples of this (the autoencoder's downsampling).
    pub fn size_multiple(&self) -> usize {
        self.vae_scale
    }

    /// Whether the UNet is an inpainting one.
    pub fn kind(&self) -> PipelineKind {
        self.kind
    }

    /// SD or SDXL.
    pub fn family(&self) -> Family {
        self.family
    }

    /// Bytes of weights loaded.
    pub fn weight_bytes(&self) -> u64 {
        self.weight_bytes
    }

    /// `texts` tokenized by `tokenizer`, `(texts, tokens)`.
    fn token_ids(&self, tokenizer: &ClipTokenizer, texts: &[&str]) -> candle_core::Result<Tensor> {
        let rows: Vec<Vec<u32>> = texts.iter().map(|text| tokenizer.encode(text)).collect();
        let len = rows[0].len();
        Tensor::from_vec(rows.concat(), (rows.len(), len), &self.device)
    }

    /// The UNet's conditioning: text embeddings `(1, 77, d)`, or `(2, 77, d)` (negative
    /// first) with guidance, and for SDXL the matching `text_time` rows.
    fn embed(&self, job: &Job) -> candle_core::Result<(Tensor, Option<TextTime>)> {
        let guided = job.guidance > 1.0;
        let first = &self.text;
        let Some(second) = &self.text_2 else {
            let texts: &[&str] = if guided {
                &[&job.negative, &job.prompt]
            } else {
                &[&job.prompt]
            };
            let ids = self.token_ids(&first.tokenizer, texts)?;
            return Ok((first.model.forward(&ids)?, None));
        };
        let zero_negative = guided && self.zeros_for_empty_negative && job.negative.is_empty();
        let texts: &[&str] = if guided && !zero_negative {
            &[&job.negative, &job.prompt]
        } else {
            &[&job.prompt]
        };
        let hidden_1 = first
            .model
            .forward_penultimate(&self.token_ids(&first.tokenizer, texts)?, false)?
            .hidden;
        let encoded_2 = second
            .model
            .forward_penultimate(&self.token_ids(&second.tokenizer, texts)?, true)?;
        let pooled = encoded_2.pooled.ok_or_else(|| {
            candle_core::Error::Msg("the second text encoder has no projection".into())
        })?;
        let mut context = Tensor::cat(&[&hidden_1, &encoded_2.hidden], 2)?;
        let mut pooled = pooled;
        if zero_negative {
            context = Tensor::cat(&[&context.zeros_like()?, &context], 0)?;
            pooled = Tensor::cat(&[&pooled.zeros_like()?, &pooled], 0)?;
        }
        // Original size, crop origin and target size: the whole image, uncropped.
        let (h, w) = (job.height as f32, job.width as f32);
        let rows = context.dim(0)?;
        let time_ids =
            Tensor::from_vec([h, w, 0.0, 0.0, h, w].repeat(rows), (rows, 6), &self.device)?
                .to_dtype(self.dtype)?;
        Ok((
            context,
            Some(TextTime {
                text_embeds: pooled,
                time_ids,
            }),
        ))
    }

    /// `pixels` `(1, 3, h, w)` in [-1, 1] as scaled latents, in the autoencoder's precision.
    fn encode_image(&self, pixels: &Tensor) -> candle_core::Result<Tensor> {
        self.vae
            .encode(&pixels.to_dtype(self.vae_dtype)?)?
            .to_dtype(self.dtype)
    }

    /// Samples one image. `step` is called after every denoising step with (done,
    /// total); returning `false` stops with [`DiffusionError::Cancelled`].
    pub fn generate(
        &self,
        job: &Job,
        step: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<RgbImage, DiffusionError> {
        self.generate_timed(job, step).map(|(image, _)| image)
    }

    /// [`Self::generate`], also returning where the time went.
    pub fn generate_timed(
        &self,
        job: &Job,
        step: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<(RgbImage, Timings), DiffusionError> {
        self.check(job)?;
        let mut timings = Timings::default();
        let result = self.generate_on_this_thread(job, step, &mut timings);
        crate::kernels::release_scratch();
        result.map(|image| (image, timings))
    }

    /// The denoised latents `(1, channels, height / 8, width / 8)`, before the
    /// autoencoder decodes them (diffusers' `output_type="latent"`).
    pub fn generate_latents(
        &self,
        job: &Job,
        step: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Tensor, DiffusionError> {
        self.check(job)?;
        let result = self.sample(job, step, &mut Timings::default());
        crate::kernels::release_scratch();
        result
    }

    /// Whether `job`'s sizes fit the model and its images.
    fn check(&self, job: &Job) -> Result<(), DiffusionError> {
        let multiple = self.vae_scale;
        if job.width == 0
            || job.height == 0
            || !job.width.is_multiple_of(multiple)
            || !job.height.is_multiple_of(multiple)
        {
            return Err(DiffusionError::InvalidInput(format!(
                "width and height must be positive multiples of {multiple}, not {}×{}",
                job.width, job.height
            )));
        }
        let check_size = |w: u32, h: u32, what: &str| {
            if (w as usize, h as usize) == (job.width, job.height) {
                Ok(())
            } else {
                Err(DiffusionError::InvalidInput(format!(
                    "the {what} is {w}×{h}, not the output size {}×{}",
                    job.width, job.height
                )))
            }
        };
        match &job.mode {
            Mode::TextToImage => {}
            Mode::ImageToImage { image, .. } => check_size(image.width(), image.height(), "image")?,
            Mode::Inpaint { image, mask } => {
                check_size(image.width(), image.height(), "image")?;
                check_size(mask.width(), mask.height(), "mask")?;
            }
        }
        Ok(())
    }

    /// The body of [`Self::generate_timed`], whose kernels keep working buffers on this
    /// thread until it returns.
    fn generate_on_this_thread(
        &self,
        job: &Job,
        step: &mut dyn FnMut(usize, usize) -> bool,
        timings: &mut Timings,
    ) -> Result<RgbImage, DiffusionError> {
        let latents = self.sample(job, step, timings)?;
        let started = Instant::now();
        let pixels = self.vae.decode(&latents.to_dtype(self.vae_dtype)?)?;
        let image = to_image(&pixels)?;
        timings.decode = started.elapsed();
        let image = match &job.mode {
            // Unmasked pixels come out exactly as they went in.
            Mode::Inpaint {
                image: original,
                mask,
            } => RgbImage::from_fn(image.width(), image.height(), |x, y| {
                if mask.get_pixel(x, y).0[0] != 0 {
                    *image.get_pixel(x, y)
                } else {
                    *original.get_pixel(x, y)
                }
            }),
            _ => image,
        };
        Ok(image)
    }

    fn sample(
        &self,
        job: &Job,
        step: &mut dyn FnMut(usize, usize) -> bool,
        timings: &mut Timings,
    ) -> Result<Tensor, DiffusionError> {
        let schedule = Schedule::new(&self.scheduler, job.steps)
            .map_err(|e| DiffusionError::InvalidInput(e.to_string()))?;
        let (dtype, device) = (self.dtype, &self.device);
        let shape = (
            1,
            self.latent_channels,
            job.height / self.vae_scale,
            job.width / self.vae_scale,
        );
        let mut noise = Noise::new(job.seed);
        let initial = noise.tensor(shape, dtype, device)?;
        let started = Instant::now();
        let (text, added) = self.embed(job)?;
        // Tensor work is asynchronous on GPUs: wait for it so the timings are true.
        self.device.synchronize()?;
        timings.text = started.elapsed();
        let started = Instant::now();
        let guided = job.guidance > 1.0;

        // Where sampling starts, the starting latents, and what each step needs.
        let mut first = 0;
        let mut latents = (&initial * schedule.init_noise_sigma())?;
        let mut blend: Option<(Tensor, Tensor)> = None;
        let mut extra: Option<Tensor> = None;
        match &job.mode {
            Mode::TextToImage => {}
            Mode::ImageToImage { image, strength } => {
                let kept = (job.steps as f64 * strength.clamp(0.0, 1.0)).floor() as usize;
                if kept == 0 {
                    return Err(DiffusionError::InvalidInput(format!(
                        "strength {strength} with {} steps leaves no step to run",
                        job.steps
                    )));
                }
                first = job.steps - kept.min(job.steps);
                let encoded = self.encode_image(&image_tensor(image, dtype, device)?)?;
                latents = schedule.add_noise(&encoded, &initial, first)?;
            }
            Mode::Inpaint { image, mask } => {
                let pixels = image_tensor(image, dtype, device)?;
                let cells = latent_mask(mask, self.vae_scale, dtype, device)?;
                match self.kind {
                    PipelineKind::Inpaint => {
                        // The inpainting UNet sees the mask and the image with the
                        // masked area blanked, as diffusers prepares them.
                        let pixel_mask = latent_mask(mask, 1, dtype, device)?;
                        let kept = pixels.broadcast_mul(&(1.0 - &pixel_mask)?)?;
                        let masked = self.encode_image(&kept)?;
                        extra = Some(Tensor::cat(&[&cells, &masked], 1)?);
                    }
                    PipelineKind::TextToImage => {
                        blend = Some((self.encode_image(&pixels)?, cells));
                    }
                }
            }
        }

        self.device.synchronize()?;
        timings.encode = started.elapsed();
        let total = job.steps - first;
        for (done, index) in (first..job.steps).enumerate() {
            let started = Instant::now();
            let timestep = schedule.timesteps()[index];
            let mut input = schedule.scale_model_input(&latents, index)?;
            if let Some(extra) = &extra {
                input = Tensor::cat(&[&input, extra], 1)?;
            }
            if guided {
                input = Tensor::cat(&[&input, &input], 0)?;
            }
            let output = self
                .unet
                .forward_with(&input, timestep, &text, added.as_ref())?;
            let output = if guided {
                let parts = output.chunk(2, 0)?;
                let (negative, positive) = (&parts[0], &parts[1]);
                (negative + ((positive - negative)? * job.guidance)?)?
            } else {
                output
            };
            latents = schedule.step(&output, index, &latents, &mut noise)?;
            if let Some((original, cells)) = &blend {
                // Any UNet can inpaint: after each step the kept area is put back,
                // noised to the level the next step expects.
                let known = schedule.add_noise(original, &initial, index + 1)?;
                latents =
                    (cells.broadcast_mul(&latents)? + (1.0 - cells)?.broadcast_mul(&known)?)?;
            }
            self.device.synchronize()?;
            timings.steps.push(started.elapsed());
            if !step(done + 1, total) {
                return Err(DiffusionError::Cancelled);
            }
        }
        Ok(latents)
    }
}

/// Whether an SDXL model's parts fit together: both tokenizers give the same number of
/// tokens, the UNet attends to both encoders' states side by side and takes the second's
/// pooled projection with six size embeddings.
fn check_xl_widths(files: &ModelFiles, first_len: usize, second_len: usize) -> Result<(), String> {
    let second = files
        .text_encoder_2
        .as_ref()
        .map(|t| &t.config)
        .ok_or("an SDXL model needs text_encoder_2")?;
    if first_len != second_len {
        return Err(format!(
            "the tokenizers give {first_len} and {second_len} tokens; SDXL needs the same number"
        ));
    }
    let context = files.text_encoder.config.hidden_size + second.hidden_size;
    if files.unet.cross_attention_dim != context {
        return Err(format!(
            "unet/config.json has cross_attention_dim {} but the text encoders give {} + {} = \
             {context}",
            files.unet.cross_attention_dim,
            files.text_encoder.config.hidden_size,
            second.hidden_size
        ));
    }
    let pooled = second
        .projection_dim
        .ok_or("text_encoder_2/config.json has no projection_dim")?;
    let time = files.unet.addition_time_embed_dim.unwrap_or(0);
    let expected = pooled + 6 * time;
    if files.unet.projection_class_embeddings_input_dim != Some(expected) {
        return Err(format!(
            "unet/config.json has projection_class_embeddings_input_dim {:?} but the pooled \
             text ({pooled}) and six size embeddings ({time} each) are {expected} wide",
            files.unet.projection_class_embeddings_input_dim
        ));
    }
    Ok(())
}

/// A `(1, 3, h, w)` tensor in [-1, 1] as an 8-bit image.
fn to_image(pixels: &Tensor) -> candle_core::Result<RgbImage> {
    let (_, _, h, w) = pixels.dims4()?;
    let bytes = ((pixels.to_dtype(DType::F32)?.squeeze(0)? + 1.0)? * 127.5)?
        .clamp(0.0, 255.0)?
        .round()?
        .permute((1, 2, 0))?
        .flatten_all()?
        .to_dtype(DType::U8)?
        .to_vec1::<u8>()?;
    Ok(RgbImage::from_raw(w as u32, h as u32, bytes).expect("h·w·3 bytes"))
}
