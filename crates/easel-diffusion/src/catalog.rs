//! The models `easel models pull NAME` knows by name: their Hugging Face repository and
//! the sampling defaults they were trained for.

/// A known model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KnownModel {
    /// The short name used in configuration and on the command line.
    pub name: &'static str,
    /// The Hugging Face repository (diffusers layout).
    pub repo: &'static str,
    /// What it is.
    pub description: &'static str,
    /// Steps at `quality: standard`; `premium` doubles them (turbo: 1 → 4).
    pub steps: usize,
    /// Guidance scale; 0 for distilled turbo models, which ignore `cfgScale`.
    pub guidance: f64,
    /// Native resolution.
    pub size: u32,
}

impl KnownModel {
    /// Whether the model was distilled for few steps without guidance.
    pub fn is_turbo(&self) -> bool {
        self.guidance == 0.0
    }
}

/// Every model known by name.
pub const KNOWN_MODELS: &[KnownModel] = &[
    KnownModel {
        name: "sd-turbo",
        repo: "stabilityai/sd-turbo",
        description: "SD-Turbo: SD 2.1 distilled for 1–4 steps at 512×512 (the CPU-friendly default)",
        steps: 1,
        guidance: 0.0,
        size: 512,
    },
    KnownModel {
        name: "sd-1.5",
        repo: "stable-diffusion-v1-5/stable-diffusion-v1-5",
        description: "Stable Diffusion 1.5 at 512×512",
        steps: 25,
        guidance: 7.5,
        size: 512,
    },
    KnownModel {
        name: "sd-2.1-base",
        repo: "stabilityai/stable-diffusion-2-1-base",
        description: "Stable Diffusion 2.1 base at 512×512",
        steps: 25,
        guidance: 7.5,
        size: 512,
    },
    KnownModel {
        name: "sd-2.1",
        repo: "stabilityai/stable-diffusion-2-1",
        description: "Stable Diffusion 2.1 (v-prediction) at 768×768",
        steps: 25,
        guidance: 7.5,
        size: 768,
    },
    KnownModel {
        name: "sd-1.5-inpainting",
        repo: "stable-diffusion-v1-5/stable-diffusion-inpainting",
        description: "Stable Diffusion 1.5 inpainting (9-channel UNet) at 512×512",
        steps: 25,
        guidance: 7.5,
        size: 512,
    },
    KnownModel {
        name: "sd-2-inpainting",
        repo: "stabilityai/stable-diffusion-2-inpainting",
        description: "Stable Diffusion 2 inpainting (9-channel UNet) at 512×512",
        steps: 25,
        guidance: 7.5,
        size: 512,
    },
    KnownModel {
        name: "sdxl-turbo",
        repo: "stabilityai/sdxl-turbo",
        description: "SDXL-Turbo: SDXL distilled for 1–4 steps at 512×512",
        steps: 1,
        guidance: 0.0,
        size: 512,
    },
    KnownModel {
        name: "sdxl",
        repo: "stabilityai/stable-diffusion-xl-base-1.0",
        description: "Stable Diffusion XL base 1.0 at 1024×1024",
        steps: 25,
        guidance: 5.0,
        size: 1024,
    },
    KnownModel {
        name: "sdxl-inpainting",
        repo: "diffusers/stable-diffusion-xl-1.0-inpainting-0.1",
        description: "SDXL 1.0 inpainting (9-channel UNet) at 1024×1024",
        steps: 25,
        guidance: 8.0,
        size: 1024,
    },
];

/// The known model called `name`.
pub fn known(name: &str) -> Option<&'static KnownModel> {
    KNOWN_MODELS.iter().find(|m| m.name == name)
}
