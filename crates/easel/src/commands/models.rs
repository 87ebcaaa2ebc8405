//! `easel models list|pull`: the local diffusion engine's model cache (by default
//! `<data_dir>/models`, one diffusers-layout directory per model) and the object
//! detectors (by default `<data_dir>/detection-models`, `<name>.onnx` each).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use easel_detect::{Detector, KNOWN_DETECTORS, known_detector};
use easel_diffusion::catalog::{KNOWN_MODELS, known};
use easel_diffusion::engine::installed_models;
use easel_diffusion::hub::{PullProgress, PullRequest, Wanted};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::config::Config;

/// `easel models …`
#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    command: ModelsCommand,
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// Show installed models (and the ones `pull` knows by name).
    List,
    /// Download a model from the Hugging Face hub: a diffusion model (diffusers layout,
    /// safetensors only) or, for a known detector's name or with --file, an ONNX object
    /// detector; an interrupted pull resumes where it stopped.
    Pull {
        /// A known name (see `easel models list`) or, with --repo, any name.
        name: String,
        /// The repository, `owner/name` (default: the known name's; for detectors,
        /// `[detection] hub_repo` if set).
        #[arg(long)]
        repo: Option<String>,
        /// The detector's ONNX file in the repository: pulls a detection model.
        #[arg(long)]
        file: Option<String>,
        /// A labels file in the repository (one class name per line) for a detector
        /// whose export does not name its classes.
        #[arg(long, requires = "file")]
        labels: Option<String>,
        /// Branch, tag or commit.
        #[arg(long, default_value = "main")]
        revision: String,
        /// Fetch full-precision (fp32) weights even where fp16 ones exist.
        #[arg(long)]
        full_precision: bool,
    },
}

/// Where models live for this configuration.
fn models_dir(config: &Config) -> anyhow::Result<PathBuf> {
    let settings = config.engines.diffusion_settings()?.unwrap_or_default();
    Ok(settings
        .models_dir
        .unwrap_or_else(|| config.storage.data_dir.join("models")))
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Runs `easel models …`.
pub fn run(args: ModelsArgs, config: Config) -> anyhow::Result<ExitCode> {
    let dir = models_dir(&config)?;
    match args.command {
        ModelsCommand::List => {
            let installed = installed_models(&dir);
            println!("models directory: {}", dir.display());
            if installed.is_empty() {
                println!("  (none installed)");
            }
            for model in &installed {
                let state = if model.missing.is_empty() {
                    use easel_diffusion::{Family, PipelineKind};
                    match model.pipeline {
                        Some((Family::StableDiffusion, PipelineKind::TextToImage)) => "ready",
                        Some((Family::StableDiffusion, PipelineKind::Inpaint)) => {
                            "ready (inpainting)"
                        }
                        Some((Family::StableDiffusionXl, PipelineKind::TextToImage)) => {
                            "ready (SDXL)"
                        }
                        Some((Family::StableDiffusionXl, PipelineKind::Inpaint)) => {
                            "ready (SDXL inpainting)"
                        }
                        None => "unusable (see `easel serve` logs)",
                    }
                    .to_owned()
                } else {
                    format!("incomplete, lacks {}", model.missing.join(", "))
                };
                println!(
                    "  {:<20} {:>10}  {}  {}",
                    model.name,
                    human(model.bytes),
                    state,
                    model.dir.display()
                );
            }
            println!("known to `easel models pull`:");
            for model in KNOWN_MODELS {
                println!(
                    "  {:<20} {:<48} {}",
                    model.name, model.repo, model.description
                );
            }
            for model in KNOWN_DETECTORS {
                let repo = config.detection.hub_repo.as_deref().unwrap_or(model.repo);
                println!(
                    "  {:<20} {:<48} {} (detection)",
                    model.name,
                    format!("{repo}/{}", model.file),
                    model.description
                );
            }
            let detection = config.detection.build(&config.storage.data_dir);
            println!(
                "detection models ([detection.models] and {}):",
                config
                    .detection
                    .models_dir(&config.storage.data_dir)
                    .display()
            );
            let available = detection.available();
            if available.is_empty() {
                println!("  (none)");
            }
            let default = detection.default_name();
            for (name, path) in available {
                let size = std::fs::metadata(&path)
                    .map_or_else(|_| "missing".to_owned(), |m| human(m.len()));
                let mark = if name == default { " (default)" } else { "" };
                println!("  {:<20} {:>10}  {}{mark}", name, size, path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Pull {
            name,
            repo,
            file,
            labels,
            revision,
            full_precision,
        } => {
            if name.is_empty()
                || name.starts_with('.')
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                bail!("a model name is letters, digits, `-`, `_` and `.`, not `{name}`");
            }
            if file.is_some() || known_detector(&name).is_some() {
                let pull = DetectorPull {
                    name,
                    repo,
                    file,
                    labels,
                    revision,
                };
                return pull.run(&config).map(|()| ExitCode::SUCCESS);
            }
            let repo = match (repo, known(&name)) {
                (Some(repo), _) => repo,
                (None, Some(model)) => model.repo.to_owned(),
                (None, None) => bail!(
                    "`{name}` is not a known model ({}); give its repository with --repo owner/name \
                     (and --file path/model.onnx for a detector)",
                    KNOWN_MODELS
                        .iter()
                        .map(|m| m.name)
                        .chain(KNOWN_DETECTORS.iter().map(|m| m.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let dest = dir.join(&name);
            std::fs::create_dir_all(&dest)
                .with_context(|| format!("cannot create {}", dest.display()))?;
            let request = hub_request(
                repo,
                revision,
                dest.clone(),
                Wanted::Diffusers {
                    prefer_fp16: !full_precision,
                },
            );
            let files = pull(&request)?;
            let bytes: u64 = files.iter().filter_map(|f| f.size).sum();
            println!(
                "pulled {name} from {} ({} files, {}) into {}",
                request.repo,
                files.len(),
                human(bytes),
                dest.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A request to the hub at `HF_ENDPOINT` (with `HF_TOKEN` for gated repositories).
fn hub_request(repo: String, revision: String, dest: PathBuf, wanted: Wanted) -> PullRequest {
    PullRequest {
        endpoint: std::env::var("HF_ENDPOINT")
            .unwrap_or_else(|_| "https://huggingface.co".to_owned()),
        repo,
        revision,
        dest,
        wanted,
        token: std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty()),
    }
}

/// Runs a pull with progress bars.
fn pull(request: &PullRequest) -> anyhow::Result<Vec<easel_diffusion::hub::RemoteFile>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(request.pull(&Bars::default()))?)
}

/// `easel models pull` of an object detector: the ONNX file (and a labels file, if
/// named) is fetched into `<models_dir>/.pull-<name>/`, loaded to prove it is a YOLO
/// detection export, and only then renamed to `<models_dir>/<name>.onnx`, so a server
/// never sees a half-downloaded or unusable model under that name.
struct DetectorPull {
    name: String,
    repo: Option<String>,
    file: Option<String>,
    labels: Option<String>,
    revision: String,
}

impl DetectorPull {
    fn run(self, config: &Config) -> anyhow::Result<()> {
        let known = known_detector(&self.name);
        let repo = self
            .repo
            .or_else(|| config.detection.hub_repo.clone())
            .or_else(|| known.map(|k| k.repo.to_owned()))
            .with_context(|| format!("give the repository of `{}` with --repo", self.name))?;
        let file = self
            .file
            .or_else(|| known.map(|k| k.file.to_owned()))
            .with_context(|| format!("give the ONNX file of `{}` with --file", self.name))?;
        let dir = config.detection.models_dir(&config.storage.data_dir);
        let staging = dir.join(format!(".pull-{}", self.name));
        std::fs::create_dir_all(&staging)
            .with_context(|| format!("cannot create {}", staging.display()))?;
        let mut wanted = vec![file.clone()];
        wanted.extend(self.labels.clone());
        let request = hub_request(
            repo.clone(),
            self.revision,
            staging.clone(),
            Wanted::Files(wanted),
        );
        let files = pull(&request).inspect_err(|_| {
            // Keeps what a broken-off download left (the next pull resumes it); an empty
            // directory says nothing.
            let _ = std::fs::remove_dir(&staging);
        })?;
        let model = staging.join(&file);
        let labels = self.labels.as_ref().map(|l| staging.join(l));
        let detector = match Detector::open(&model, labels.as_deref(), None) {
            Ok(detector) => detector,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                bail!(
                    "{file} from {repo} is not a usable detection model ({}: {e}); nothing was installed",
                    e.code()
                );
            }
        };
        let target = dir.join(format!("{}.onnx", self.name));
        let labels_target = dir.join(format!("{}.labels.txt", self.name));
        // A labels file beside the model: the one pulled, else the known model's class
        // names when the export does not carry its own.
        let label_text = match (&labels, known) {
            (Some(path), _) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?,
            ),
            (None, Some(k))
                if !detector.has_names() && k.labels.len() == detector.names().len() =>
            {
                Some(k.labels.join("\n") + "\n")
            }
            _ => None,
        };
        match label_text {
            Some(text) => write_atomically(&labels_target, text.as_bytes())?,
            None => {
                // Labels left by an earlier pull of another model under this name would
                // override this model's own names.
                let _ = std::fs::remove_file(&labels_target);
            }
        }
        std::fs::rename(&model, &target)
            .with_context(|| format!("cannot install {}", target.display()))?;
        let _ = std::fs::rename(
            staging.join(".easel-model.json"),
            dir.join(format!("{}.pull.json", self.name)),
        );
        let _ = std::fs::remove_dir_all(&staging);
        let bytes: u64 = files.iter().filter_map(|f| f.size).sum();
        println!(
            "pulled {} from {repo}/{file} ({}, {} classes, input {}x{}) into {}",
            self.name,
            human(bytes),
            detector.names().len(),
            detector.input_size().1,
            detector.input_size().0,
            target.display()
        );
        Ok(())
    }
}

/// Writes `path` through a temporary file and a rename, so readers see all or nothing.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let partial = path.with_extension("part");
    std::fs::write(&partial, bytes)
        .and_then(|()| std::fs::rename(&partial, path))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// One progress bar per file.
#[derive(Default)]
struct Bars {
    all: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl PullProgress for Bars {
    fn start(&self, file: &str, done: u64, total: Option<u64>) {
        let bar = match total {
            Some(total) => ProgressBar::new(total),
            None => ProgressBar::no_length(),
        };
        let bar = self.all.add(bar);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:48} {bytes:>10}/{total_bytes:10} {bar:30} {bytes_per_sec:>12} {eta}",
            )
            .expect("valid template"),
        );
        bar.set_message(file.to_owned());
        bar.set_position(done);
        self.bars
            .lock()
            .expect("not poisoned")
            .insert(file.to_owned(), bar);
    }

    fn advance(&self, file: &str, done: u64) {
        if let Some(bar) = self.bars.lock().expect("not poisoned").get(file) {
            bar.set_position(done);
        }
    }

    fn finish(&self, file: &str) {
        match self.bars.lock().expect("not poisoned").remove(file) {
            Some(bar) => bar.finish(),
            None => {
                let _ = self.all.println(format!("{file:48} already complete"));
            }
        }
    }
}
