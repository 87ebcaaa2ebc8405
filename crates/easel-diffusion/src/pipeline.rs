//! A loaded Stable Diffusion model and one generation with it: text-to-image,
//! image-to-image and inpainting (a 9-channel inpainting UNet, or any UNet by blending
//! the kept area back in at every step), with per-step progress and cancellation.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use image::{GrayImage, RgbImage};

use crate::DiffusionError;
use crate::layout::{ModelFiles, PipelineKind};
use crate::scheduler::{Noise, Schedule};
use crate::text_encoder::TextEncoder;
use crate::tokenizer::ClipTokenizer;
use crate::unet::UNet;
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

/// A loaded model: weights in memory, ready for any number of generations.
pub struct Pipeline {
    kind: PipelineKind,
    device: Device,
    dtype: DType,
    tokenizer: ClipTokenizer,
    text_encoder: TextEncoder,
    unet: UNet,
    vae: Vae,
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
        let pad = files.tokenizer.pad_token();
        let max_len = files
            .tokenizer
            .max_length()
            .filter(|&n| n <= files.text_encoder.max_position_embeddings)
            .unwrap_or(files.text_encoder.max_position_embeddings);
        let tokenizer = ClipTokenizer::load(&files.tokenizer_files, pad.as_deref(), max_len)?;
        // A weight file that cannot be read as safetensors is a bad model, said as such
        // (the error names the file), not a failure of the computation.
        let weights = |path: &std::path::Path| {
            crate::weights::read(path, dtype, device).map_err(|e| bad(e.to_string()))
        };
        let text_encoder =
            TextEncoder::new(&files.text_encoder, weights(&files.text_encoder_weights)?)
                .map_err(|e| bad(format!("text_encoder: {e}")))?;
        let unet = UNet::load(weights(&files.unet_weights)?, &files.unet)
            .map_err(|e| bad(format!("unet: {e}")))?;
        let vae = Vae::new(&files.vae, weights(&files.vae_weights)?)
            .map_err(|e| bad(format!("vae: {e}")))?;
        // Validates the schedule once, so a bad config fails at load, not per request.
        Schedule::new(&files.scheduler, 1).map_err(|e| bad(format!("scheduler: {e}")))?;
        Ok(Pipeline {
            kind: files.kind,
            device: device.clone(),
            dtype,
            tokenizer,
            text_encoder,
            unet,
            vae,
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

    /// Bytes of weights loaded.
    pub fn weight_bytes(&self) -> u64 {
        self.weight_bytes
    }

    /// The text embeddings: `(1, 77, d)`, or `(2, 77, d)` (negative first) with guidance.
    fn embed(&self, job: &Job) -> candle_core::Result<Tensor> {
        let mut rows = Vec::new();
        if job.guidance > 1.0 {
            rows.push(self.tokenizer.encode(&job.negative));
        }
        rows.push(self.tokenizer.encode(&job.prompt));
        let len = rows[0].len();
        let ids: Vec<u32> = rows.concat();
        let ids = Tensor::from_vec(ids, (rows.len(), len), &self.device)?;
        self.text_encoder.forward(&ids)
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
        let mut timings = Timings::default();
        let result = self.generate_on_this_thread(job, step, &mut timings);
        crate::kernels::release_scratch();
        result.map(|image| (image, timings))
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
        let pixels = self.vae.decode(&latents)?;
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
        let text = self.embed(job)?;
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
                let encoded = self.vae.encode(&image_tensor(image, dtype, device)?)?;
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
                        let masked = self.vae.encode(&kept)?;
                        extra = Some(Tensor::cat(&[&cells, &masked], 1)?);
                    }
                    PipelineKind::TextToImage => {
                        blend = Some((self.vae.encode(&pixels)?, cells));
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
            let output = self.unet.forward(&input, timestep, &text)?;
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
