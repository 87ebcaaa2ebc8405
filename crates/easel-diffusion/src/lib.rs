//! Easel's local diffusion engine: Stable Diffusion models in the diffusers layout
//! (SD 1.x, SD 2.x, SD-Turbo and the inpainting variants) run on candle, on the CPU or
//! an NVIDIA GPU, behind easel-engines' `Engine` trait; and the model cache that
//! `easel models pull|list` manages.

pub mod catalog;
/// The CPU kernels, shared with the object detector (crate `easel-kernels`).
pub use easel_kernels as kernels;
pub mod engine;
pub mod hub;
pub mod layers;
pub mod layout;
pub mod pipeline;
pub mod scheduler;
pub mod text_encoder;
pub mod tiny;
pub mod tokenizer;
pub mod unet;
pub mod vae;
pub mod weights;

use std::path::PathBuf;

pub use engine::{DiffusionEngine, DiffusionSettings};
pub use layout::{Family, ModelFiles, PipelineKind};
pub use pipeline::{Job, Mode, Pipeline};

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum DiffusionError {
    /// Files of the model are not on disk.
    #[error(
        "model `{model}` is not installed: {dir} lacks {}{}; run `easel models pull {model}` \
         (or put a diffusers-layout model there)",
        missing.join(", "),
        if *pickled { " (only PyTorch .bin weights are there; Easel loads .safetensors only)" } else { "" }
    )]
    MissingFiles {
        /// The model's name.
        model: String,
        /// Where it was looked for.
        dir: PathBuf,
        /// Relative paths of the missing files.
        missing: Vec<String>,
        /// Whether `.bin` files stand where safetensors were expected.
        pickled: bool,
    },
    /// The files are there but do not describe a model this engine runs.
    #[error("the model in {dir} cannot be used: {message}")]
    BadModel {
        /// The model directory.
        dir: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The request cannot be run as given.
    #[error("{0}")]
    InvalidInput(String),
    /// The caller stopped it.
    #[error("cancelled")]
    Cancelled,
    /// A tensor operation failed (out of memory, a device error).
    #[error("tensor computation failed: {0}")]
    Tensor(#[from] candle_core::Error),
}
