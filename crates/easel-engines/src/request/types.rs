//! Typed, validated requests. A value of these types exists only after [`super::parse`]
//! accepted it: sizes are allowed, images decoded, masks the size of their image.

use std::fmt;

use image::{GrayImage, RgbaImage};

use super::schema::ModelFamily;

pub use easel_core::{Quality, TaskType};

/// A request that failed validation: the JSON pointer of the field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer in Bedrock's `#/a/b` form (`#` alone for the whole body).
    pub pointer: String,
    /// What is wrong, in the JSON-schema validator's words.
    pub message: String,
}

impl Violation {
    /// A violation at `pointer`.
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Violation {
            pointer: pointer.into(),
            message: message.into(),
        }
    }

    /// Bedrock's full `ValidationException` message.
    pub fn bedrock_message(&self) -> String {
        format!("Malformed input request: {self}, please reformat your input and try again.")
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pointer, self.message)
    }
}

/// A decoded input image with its original bytes (engines that forward the request,
/// like `bedrock`, send the bytes; engines that compute, like `classic`, use pixels).
#[derive(Debug, Clone, PartialEq)]
pub struct InputImage {
    /// Upright sRGB pixels.
    pub pixels: RgbaImage,
    /// The base64 text as received.
    pub base64: String,
}

/// Which area to change.
#[derive(Debug, Clone, PartialEq)]
pub enum Mask {
    /// A mask image the size of the input: black (0) pixels are masked.
    Image {
        /// `true` where the mask is black.
        masked: GrayImage,
        /// The base64 text as received.
        base64: String,
    },
    /// A description of the object to mask (needs a segmentation model).
    Prompt(String),
}

/// How strictly outpainting keeps the unmasked image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutpaintMode {
    /// The model may adjust the kept area slightly to blend.
    Default,
    /// The kept area is byte-for-byte unchanged.
    Precise,
}

/// An sRGB colour from `#RRGGBB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Color(pub [u8; 3]);

/// What to do, with its task-specific parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    /// `TEXT_IMAGE`.
    TextImage {
        /// The prompt.
        text: String,
        /// What to avoid.
        negative_text: Option<String>,
    },
    /// `INPAINTING`: change the masked area.
    Inpainting {
        /// The image to edit.
        image: InputImage,
        /// The area to change.
        mask: Mask,
        /// What to put there (absent: remove what is there).
        text: Option<String>,
        /// What to avoid.
        negative_text: Option<String>,
        /// Also return the mask.
        return_mask: bool,
    },
    /// `OUTPAINTING`: keep the masked area, change (and extend) the rest.
    Outpainting {
        /// The image to extend.
        image: InputImage,
        /// The area to keep.
        mask: Mask,
        /// What to generate around it.
        text: String,
        /// What to avoid.
        negative_text: Option<String>,
        /// How strictly the kept area is kept.
        mode: OutpaintMode,
        /// Also return the mask.
        return_mask: bool,
    },
    /// `IMAGE_VARIATION`.
    ImageVariation {
        /// 1 to 5 images to vary.
        images: Vec<InputImage>,
        /// A prompt to steer the variation.
        text: Option<String>,
        /// What to avoid.
        negative_text: Option<String>,
        /// How close to stay to the images, 0.2–1.0.
        similarity_strength: f32,
    },
    /// `BACKGROUND_REMOVAL`.
    BackgroundRemoval {
        /// The image.
        image: InputImage,
    },
    /// `COLOR_GUIDED_GENERATION`.
    ColorGuided {
        /// The prompt.
        text: String,
        /// What to avoid.
        negative_text: Option<String>,
        /// 1 to 10 colours.
        colors: Vec<Color>,
        /// An optional reference image.
        reference_image: Option<InputImage>,
    },
}

impl Task {
    /// The task's type.
    pub fn task_type(&self) -> TaskType {
        match self {
            Task::TextImage { .. } => TaskType::TextImage,
            Task::Inpainting { .. } => TaskType::Inpainting,
            Task::Outpainting { .. } => TaskType::Outpainting,
            Task::ImageVariation { .. } => TaskType::ImageVariation,
            Task::BackgroundRemoval { .. } => TaskType::BackgroundRemoval,
            Task::ColorGuided { .. } => TaskType::ColorGuidedGeneration,
        }
    }

    /// The prompt, when the task has one.
    pub fn text(&self) -> Option<&str> {
        match self {
            Task::TextImage { text, .. }
            | Task::Outpainting { text, .. }
            | Task::ColorGuided { text, .. } => Some(text),
            Task::Inpainting { text, .. } | Task::ImageVariation { text, .. } => text.as_deref(),
            Task::BackgroundRemoval { .. } => None,
        }
    }
}

/// `imageGenerationConfig`, with defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenerationConfig {
    /// 1 to 5.
    pub number_of_images: u32,
    /// `standard` or `premium`.
    pub quality: Quality,
    /// Prompt adherence, 1.1 to 10.
    pub cfg_scale: f32,
    /// Output width (for edits: the canvas width, at least the input's).
    pub width: u32,
    /// Output height.
    pub height: u32,
    /// The seed used (random when the request gave none).
    pub seed: u32,
    /// Whether the seed came from the request.
    pub seed_given: bool,
}

/// A validated request.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationRequest {
    /// The task and its parameters.
    pub task: Task,
    /// Output settings.
    pub config: GenerationConfig,
    /// Whose body this was (Titan's or Nova's rules), so an engine that forwards the
    /// request, like `bedrock`, calls the matching model.
    pub family: ModelFamily,
}
