//! The `diffusion` engine: Bedrock-shaped requests (TEXT_IMAGE, IMAGE_VARIATION,
//! INPAINTING, OUTPAINTING) run on a local Stable Diffusion model. Models load on first
//! use and stay in memory for every later job; one generation runs per device at a
//! time (others wait in line); progress is reported per denoising step and
//! cancellation is honoured between steps.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use candle_core::Device;
use easel_engines::request::{GenerationRequest, InputImage, Quality, Task, TaskType};
use easel_engines::{
    Capabilities, EditCanvas, Engine, EngineError, GeneratedImage, Progress, edit_canvas,
};
use image::{GrayImage, Luma, RgbImage, RgbaImage, imageops};
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::DiffusionError;
use crate::catalog;
use crate::layout::{Family, ModelFiles, PipelineKind, missing_files};
use crate::pipeline::{Job, Mode, Pipeline};

/// `[engines.diffusion]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffusionSettings {
    /// The model for every task: a name from `easel models list` (a directory under
    /// `models_dir`). Default `sd-turbo`.
    #[serde(default = "default_model")]
    pub model: String,
    /// A model directory to use instead of `models_dir/<model>`.
    #[serde(default)]
    pub model_dir: Option<PathBuf>,
    /// An inpainting model (9-channel UNet) for INPAINTING and OUTPAINTING; without
    /// one, `model` inpaints by blending.
    #[serde(default)]
    pub inpaint_model: Option<String>,
    /// Where `easel models pull` puts models. Default `<data_dir>/models`.
    #[serde(default)]
    pub models_dir: Option<PathBuf>,
    /// `cpu`, `cuda` or `cuda:N` (a build with the `cuda` feature).
    #[serde(default = "default_device")]
    pub device: String,
    /// Steps at `quality: standard` (premium doubles them); default: the model's own.
    #[serde(default)]
    pub steps: Option<usize>,
    /// Generations running at once on the device. Default 1: more only compete for the
    /// same cores or GPU memory.
    #[serde(default = "one")]
    pub concurrency: usize,
}

fn default_model() -> String {
    "sd-turbo".to_owned()
}
fn default_device() -> String {
    "cpu".to_owned()
}
fn one() -> usize {
    1
}

impl Default for DiffusionSettings {
    fn default() -> Self {
        DiffusionSettings {
            model: default_model(),
            model_dir: None,
            inpaint_model: None,
            models_dir: None,
            device: default_device(),
            steps: None,
            concurrency: 1,
        }
    }
}

/// The device a setting names.
pub fn parse_device(name: &str) -> Result<Device, String> {
    let cuda = |ordinal: usize| {
        Device::new_cuda(ordinal).map_err(|e| {
            format!(
                "device `{name}` is not usable: {e} (CUDA needs a build with `--features cuda`)"
            )
        })
    };
    match name {
        "cpu" => Ok(Device::Cpu),
        "cuda" => cuda(0),
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(ordinal)) => cuda(ordinal),
            _ => Err(format!("device `{other}` is not cpu, cuda or cuda:N")),
        },
    }
}

/// A model the engine may load.
struct ModelSlot {
    name: String,
    dir: PathBuf,
    loaded: Mutex<Option<Arc<Pipeline>>>,
}

impl ModelSlot {
    fn missing(&self) -> Option<String> {
        let missing = missing_files(&self.dir);
        (!missing.is_empty()).then(|| {
            DiffusionError::MissingFiles {
                model: self.name.clone(),
                dir: self.dir.clone(),
                missing,
                pickled: false,
            }
            .to_string()
        })
    }
}

/// The engine.
pub struct DiffusionEngine {
    capabilities: Capabilities,
    settings: DiffusionSettings,
    device: Device,
    main: Arc<ModelSlot>,
    inpaint: Option<Arc<ModelSlot>>,
    running: Semaphore,
}

impl DiffusionEngine {
    /// The engine for `settings`; `data_dir` places the default models directory. Builds
    /// nothing heavy: weights load on the first request.
    pub fn new(settings: DiffusionSettings, data_dir: &std::path::Path) -> Result<Self, String> {
        let device = parse_device(&settings.device)?;
        if settings.concurrency == 0 {
            return Err("concurrency must be at least 1".to_owned());
        }
        let models_dir = settings
            .models_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("models"));
        let slot = |name: &str, dir: PathBuf| {
            Arc::new(ModelSlot {
                name: name.to_owned(),
                dir,
                loaded: Mutex::new(None),
            })
        };
        let main_dir = settings
            .model_dir
            .clone()
            .unwrap_or_else(|| models_dir.join(&settings.model));
        let main = slot(&settings.model, main_dir);
        let inpaint = settings
            .inpaint_model
            .as_deref()
            .map(|name| slot(name, models_dir.join(name)));
        Ok(DiffusionEngine {
            capabilities: Capabilities {
                tasks: vec![
                    TaskType::TextImage,
                    TaskType::ImageVariation,
                    TaskType::Inpainting,
                    TaskType::Outpainting,
                ],
                max_images: 5,
                follows_prompt: true,
                mask_prompts: false,
            },
            running: Semaphore::new(settings.concurrency),
            settings,
            device,
            main,
            inpaint,
        })
    }

    fn slot_for(&self, task: TaskType) -> &Arc<ModelSlot> {
        match (task, &self.inpaint) {
            (TaskType::Inpainting | TaskType::Outpainting, Some(inpaint)) => inpaint,
            _ => &self.main,
        }
    }

    /// The pipeline in `slot`, loading it on first use.
    async fn pipeline(&self, slot: &Arc<ModelSlot>) -> Result<Arc<Pipeline>, EngineError> {
        if let Some(loaded) = slot.loaded.lock().expect("not poisoned").clone() {
            return Ok(loaded);
        }
        let device = self.device.clone();
        let task_slot = slot.clone();
        let started = Instant::now();
        let pipeline = tokio::task::spawn_blocking(move || {
            let files = ModelFiles::open(&task_slot.dir, &task_slot.name)?;
            Pipeline::load(&files, &device)
        })
        .await
        .map_err(|e| EngineError::Internal(format!("loading the model failed: {e}")))?
        .map_err(engine_error)?;
        let pipeline = Arc::new(pipeline);
        tracing::info!(
            model = %slot.name,
            dir = %slot.dir.display(),
            weight_bytes = pipeline.weight_bytes(),
            seconds = started.elapsed().as_secs_f64(),
            "diffusion model loaded"
        );
        metrics::gauge!("easel_diffusion_weight_bytes", "model" => slot.name.clone())
            .set(pipeline.weight_bytes() as f64);
        *slot.loaded.lock().expect("not poisoned") = Some(pipeline.clone());
        Ok(pipeline)
    }

    fn defaults(&self, slot: &ModelSlot) -> (usize, f64) {
        let known = catalog::known(&slot.name);
        let steps = self.settings.steps.or(known.map(|m| m.steps)).unwrap_or(25);
        let guidance = known.map(|m| m.guidance).unwrap_or(7.5);
        (steps, guidance)
    }
}

fn engine_error(error: DiffusionError) -> EngineError {
    match error {
        DiffusionError::MissingFiles { .. } => EngineError::Unavailable(error.to_string()),
        DiffusionError::InvalidInput(message) => EngineError::InvalidInput(message),
        DiffusionError::Cancelled => EngineError::Cancelled,
        DiffusionError::BadModel { .. } => EngineError::Unavailable(error.to_string()),
        DiffusionError::Tensor(e) => EngineError::Internal(e.to_string()),
    }
}

/// `n` rounded up to a multiple of `m`.
fn round_up(n: u32, m: u32) -> u32 {
    n.div_ceil(m) * m
}

fn rgb(image: &RgbaImage) -> RgbImage {
    RgbImage::from_fn(image.width(), image.height(), |x, y| {
        let p = image.get_pixel(x, y).0;
        image::Rgb([p[0], p[1], p[2]])
    })
}

/// `image` scaled to cover `w`×`h` and centre-cropped to it.
fn cover(image: &RgbaImage, w: u32, h: u32) -> RgbImage {
    let (iw, ih) = image.dimensions();
    let scale = (f64::from(w) / f64::from(iw)).max(f64::from(h) / f64::from(ih));
    let (sw, sh) = (
        ((f64::from(iw) * scale).ceil() as u32).max(w),
        ((f64::from(ih) * scale).ceil() as u32).max(h),
    );
    let resized = imageops::resize(&rgb(image), sw, sh, imageops::FilterType::Lanczos3);
    imageops::crop_imm(&resized, (sw - w) / 2, (sh - h) / 2, w, h).to_image()
}

/// An edit canvas padded right and bottom to multiples of `m` (edge pixels repeated,
/// the padding regenerated too), so the model can take it; cropped back afterwards.
fn pad_canvas(edit: &EditCanvas, m: u32) -> (RgbImage, GrayImage) {
    let (w, h) = edit.canvas.dimensions();
    let (pw, ph) = (round_up(w, m), round_up(h, m));
    let image = RgbImage::from_fn(pw, ph, |x, y| {
        let p = edit.canvas.get_pixel(x.min(w - 1), y.min(h - 1)).0;
        image::Rgb([p[0], p[1], p[2]])
    });
    let mask = GrayImage::from_fn(pw, ph, |x, y| {
        if x < w && y < h {
            *edit.hole.get_pixel(x, y)
        } else {
            Luma([255])
        }
    });
    (image, mask)
}

/// One image to produce: the job and how to turn its output into the result.
struct Planned {
    job: Job,
    finish: Finish,
}

enum Finish {
    /// Crop the top-left `w`×`h` (the output was generated at a rounded-up size).
    Crop(u32, u32),
    /// Crop, and restore the canvas alpha outside the hole.
    Edit(EditCanvas),
}

impl DiffusionEngine {
    fn plan(
        &self,
        request: &GenerationRequest,
        multiple: u32,
        standard_steps: usize,
        model_guidance: f64,
    ) -> Result<Vec<Planned>, EngineError> {
        let config = &request.config;
        let steps = match config.quality {
            Quality::Standard => standard_steps,
            // Turbo models: 1 → 4 steps; others double.
            Quality::Premium if standard_steps < 4 => 4,
            Quality::Premium => standard_steps * 2,
        };
        // Distilled models were trained without guidance; others take the request's.
        let guidance = if model_guidance == 0.0 {
            0.0
        } else {
            f64::from(config.cfg_scale)
        };
        let text = request.task.text().unwrap_or("").to_owned();
        let negative = match &request.task {
            Task::TextImage { negative_text, .. }
            | Task::Inpainting { negative_text, .. }
            | Task::Outpainting { negative_text, .. }
            | Task::ImageVariation { negative_text, .. }
            | Task::ColorGuided { negative_text, .. } => negative_text.clone().unwrap_or_default(),
            Task::BackgroundRemoval { .. } => String::new(),
        };
        let (w, h) = (
            round_up(config.width, multiple),
            round_up(config.height, multiple),
        );
        let job = |index: u32, steps: usize, mode: Mode, width: u32, height: u32| Job {
            prompt: text.clone(),
            negative: negative.clone(),
            width: width as usize,
            height: height as usize,
            steps,
            guidance,
            seed: u64::from(config.seed) + u64::from(index),
            mode,
        };
        let count = config.number_of_images;
        match &request.task {
            Task::TextImage { .. } => Ok((0..count)
                .map(|i| Planned {
                    job: job(i, steps, Mode::TextToImage, w, h),
                    finish: Finish::Crop(config.width, config.height),
                })
                .collect()),
            Task::ImageVariation {
                images,
                similarity_strength,
                ..
            } => {
                // similarityStrength 0.2–1.0 (1 = closest) → strength 0.83–0.15 of the
                // schedule re-noised; at least one step must run.
                let strength = 1.0 - 0.85 * f64::from(*similarity_strength);
                let steps = steps.max((1.0 / strength).ceil() as usize);
                Ok((0..count)
                    .map(|i| {
                        let source: &InputImage = &images[i as usize % images.len()];
                        let image = cover(&source.pixels, w, h);
                        Planned {
                            job: job(i, steps, Mode::ImageToImage { image, strength }, w, h),
                            finish: Finish::Crop(config.width, config.height),
                        }
                    })
                    .collect())
            }
            Task::Inpainting { .. } | Task::Outpainting { .. } => {
                let edit = edit_canvas(request, "diffusion")?;
                let (image, mask) = pad_canvas(&edit, multiple);
                let (pw, ph) = image.dimensions();
                Ok((0..count)
                    .map(|i| Planned {
                        job: job(
                            i,
                            steps,
                            Mode::Inpaint {
                                image: image.clone(),
                                mask: mask.clone(),
                            },
                            pw,
                            ph,
                        ),
                        finish: Finish::Edit(edit.clone()),
                    })
                    .collect())
            }
            other => Err(EngineError::Unsupported {
                engine: "diffusion".to_owned(),
                task: other.task_type().to_string(),
                alternatives: Vec::new(),
            }),
        }
    }
}

fn finish(output: RgbImage, finish: &Finish) -> RgbaImage {
    match finish {
        Finish::Crop(w, h) => {
            let cropped = imageops::crop_imm(&output, 0, 0, *w, *h).to_image();
            RgbaImage::from_fn(*w, *h, |x, y| {
                let p = cropped.get_pixel(x, y).0;
                image::Rgba([p[0], p[1], p[2], 255])
            })
        }
        Finish::Edit(edit) => {
            let (w, h) = edit.canvas.dimensions();
            RgbaImage::from_fn(w, h, |x, y| {
                if edit.hole.get_pixel(x, y).0[0] != 0 {
                    let p = output.get_pixel(x, y).0;
                    image::Rgba([p[0], p[1], p[2], 255])
                } else {
                    // Kept pixels, alpha included, exactly as they came.
                    *edit.canvas.get_pixel(x, y)
                }
            })
        }
    }
}

#[async_trait]
impl Engine for DiffusionEngine {
    fn name(&self) -> &str {
        "diffusion"
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn unavailable(&self) -> Option<String> {
        // A loaded model is available even if its files were moved since.
        if self.main.loaded.lock().expect("not poisoned").is_some() {
            return None;
        }
        self.main.missing()
    }

    async fn run(
        &self,
        request: &GenerationRequest,
        progress: &dyn Progress,
        cancel: &CancellationToken,
    ) -> Result<Vec<GeneratedImage>, EngineError> {
        let slot = self.slot_for(request.task.task_type()).clone();
        // One generation per device at a time; the rest wait here, cancellable.
        let _permit = tokio::select! {
            permit = self.running.acquire() => permit.map_err(|e| EngineError::Internal(e.to_string()))?,
            _ = cancel.cancelled() => return Err(EngineError::Cancelled),
        };
        let pipeline = self.pipeline(&slot).await?;
        let (standard_steps, guidance) = self.defaults(&slot);
        let planned = self.plan(
            request,
            pipeline.size_multiple() as u32,
            standard_steps,
            guidance,
        )?;
        let return_mask = matches!(
            request.task,
            Task::Inpainting {
                return_mask: true,
                ..
            } | Task::Outpainting {
                return_mask: true,
                ..
            }
        );
        // The mask returned with every image (`returnMask`) is the edit's hole.
        let mask = match planned.first().map(|p| &p.finish) {
            Some(Finish::Edit(edit)) if return_mask => Some(edit.hole.clone()),
            _ => None,
        };
        let total: usize = planned.iter().map(|p| p.job.steps).sum();
        progress.report(0, total as u32);

        // Steps are reported from the blocking thread through a channel, so `progress`
        // (which is not `'static`) is only called here.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
        let token = cancel.clone();
        let model = slot.name.clone();
        let work = tokio::task::spawn_blocking(move || {
            let mut done = 0usize;
            let mut images = Vec::with_capacity(planned.len());
            for plan in &planned {
                let mut last = Instant::now();
                let mut on_step = |_: usize, _: usize| {
                    metrics::histogram!("easel_diffusion_step_seconds", "model" => model.clone())
                        .record(last.elapsed().as_secs_f64());
                    last = Instant::now();
                    done += 1;
                    let _ = tx.send(done);
                    !token.is_cancelled()
                };
                let image = pipeline.generate(&plan.job, &mut on_step)?;
                images.push(finish(image, &plan.finish));
            }
            Ok::<_, DiffusionError>(images)
        });
        tokio::pin!(work);
        let images = loop {
            tokio::select! {
                Some(done) = rx.recv() => progress.report(done as u32, total as u32),
                result = &mut work => break result,
            }
        };
        while let Ok(done) = rx.try_recv() {
            progress.report(done as u32, total as u32);
        }
        let images = images
            .map_err(|e| EngineError::Internal(format!("the generation task failed: {e}")))?
            .map_err(engine_error)?;
        metrics::counter!("easel_diffusion_images_total", "model" => slot.name.clone())
            .increment(images.len() as u64);
        if let Some(peak) = peak_rss_bytes() {
            metrics::gauge!("easel_process_peak_resident_bytes").set(peak as f64);
        }
        Ok(images
            .into_iter()
            .map(|pixels| GeneratedImage {
                pixels,
                mask: mask.clone(),
            })
            .collect())
    }
}

/// The process's peak resident memory (`VmHWM`), where /proc has it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// What `easel models list` shows for one directory of the models directory.
#[derive(Debug, Clone)]
pub struct InstalledModel {
    /// The directory name.
    pub name: String,
    /// Its path.
    pub dir: PathBuf,
    /// Required files it lacks (empty: ready).
    pub missing: Vec<String>,
    /// Bytes on disk.
    pub bytes: u64,
    /// The family and pipeline, when the model opens.
    pub pipeline: Option<(Family, PipelineKind)>,
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| match entry.file_type() {
                    Ok(t) if t.is_dir() => dir_bytes(&entry.path()),
                    Ok(_) => entry.metadata().map(|m| m.len()).unwrap_or(0),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Every model directory under `models_dir`, by name.
pub fn installed_models(models_dir: &std::path::Path) -> Vec<InstalledModel> {
    let mut list = Vec::new();
    if let Ok(entries) = std::fs::read_dir(models_dir) {
        for entry in entries.flatten() {
            let dir = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if !dir.is_dir() || name.starts_with('.') {
                continue;
            }
            let missing = missing_files(&dir);
            let pipeline = if missing.is_empty() {
                ModelFiles::open(&dir, &name)
                    .ok()
                    .map(|f| (f.family, f.kind))
            } else {
                None
            };
            list.push(InstalledModel {
                bytes: dir_bytes(&dir),
                name,
                dir,
                missing,
                pipeline,
            });
        }
    }
    list.sort_by(|a, b| a.name.cmp(&b.name));
    list
}
