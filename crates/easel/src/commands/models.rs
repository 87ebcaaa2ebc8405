//! `easel models list|pull`: the local diffusion engine's model cache (by default
//! `<data_dir>/models`, one diffusers-layout directory per model).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use easel_diffusion::catalog::{KNOWN_MODELS, known};
use easel_diffusion::engine::installed_models;
use easel_diffusion::hub::{PullProgress, PullRequest};
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
    /// Download a model from the Hugging Face hub (diffusers layout, safetensors only);
    /// an interrupted pull resumes where it stopped.
    Pull {
        /// A known name (see `easel models list`) or, with --repo, any name.
        name: String,
        /// The repository, `owner/name` (default: the known name's).
        #[arg(long)]
        repo: Option<String>,
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
            let repo = match (repo, known(&name)) {
                (Some(repo), _) => repo,
                (None, Some(model)) => model.repo.to_owned(),
                (None, None) => bail!(
                    "`{name}` is not a known model ({}); give its repository with --repo owner/name",
                    KNOWN_MODELS
                        .iter()
                        .map(|m| m.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let dest = dir.join(&name);
            std::fs::create_dir_all(&dest)
                .with_context(|| format!("cannot create {}", dest.display()))?;
            let request = PullRequest {
                endpoint: std::env::var("HF_ENDPOINT")
                    .unwrap_or_else(|_| "https://huggingface.co".to_owned()),
                repo,
                revision,
                dest: dest.clone(),
                prefer_fp16: !full_precision,
                token: std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty()),
            };
            let progress = Bars::default();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let files = runtime.block_on(request.pull(&progress))?;
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
