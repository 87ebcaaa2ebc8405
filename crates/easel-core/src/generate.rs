//! The vocabulary of generation and editing: task types, output formats, quality, the
//! quota class, the dialect a request came through, engine error codes, and the stored
//! [`GenerateSpec`] built from them. Every value is parsed once, where it enters.

use serde::{Deserialize, Serialize};

use crate::names::wire_names;
use crate::usage::OpClass;

wire_names! {
    /// The task types of the Bedrock request model.
    pub enum TaskType ("task type") {
        /// Generate from text.
        TextImage = "TEXT_IMAGE",
        /// Change the masked area of an image.
        Inpainting = "INPAINTING",
        /// Change everything outside the masked area (and extend the canvas).
        Outpainting = "OUTPAINTING",
        /// New images in the style and content of given images.
        ImageVariation = "IMAGE_VARIATION",
        /// Remove the background, leaving the subject on transparency.
        BackgroundRemoval = "BACKGROUND_REMOVAL",
        /// Generate with a colour palette.
        ColorGuidedGeneration = "COLOR_GUIDED_GENERATION",
    }
}

impl TaskType {
    /// The name of the parameters object for this task, e.g. `textToImageParams`.
    pub fn params_key(self) -> &'static str {
        match self {
            TaskType::TextImage => "textToImageParams",
            TaskType::Inpainting => "inPaintingParams",
            TaskType::Outpainting => "outPaintingParams",
            TaskType::ImageVariation => "imageVariationParams",
            TaskType::BackgroundRemoval => "backgroundRemovalParams",
            TaskType::ColorGuidedGeneration => "colorGuidedGenerationParams",
        }
    }

    /// Whether this task edits an image rather than generating one.
    pub fn is_edit(self) -> bool {
        matches!(
            self,
            TaskType::Inpainting | TaskType::Outpainting | TaskType::BackgroundRemoval
        )
    }

    /// The quota class the task counts against.
    pub fn op_class(self) -> OpClass {
        if self.is_edit() {
            OpClass::Edit
        } else {
            OpClass::Generate
        }
    }
}

wire_names! {
    /// The encoding of generated images.
    pub enum OutputFormat ("output format") {
        /// Lossless, the default.
        Png = "png",
        /// Lossy.
        Jpeg = "jpeg",
        /// Lossy.
        Webp = "webp",
    }
}

impl OutputFormat {
    /// A client's spelling: any case, `jpg` for JPEG. The one place a format name
    /// from outside is read.
    pub fn parse(text: &str) -> Result<OutputFormat, crate::names::UnknownName> {
        match text.trim().to_ascii_lowercase().as_str() {
            "jpg" => Ok(OutputFormat::Jpeg),
            other => other
                .parse()
                .map_err(|mut error: crate::names::UnknownName| {
                    error.given = text.to_owned();
                    error
                }),
        }
    }
}

wire_names! {
    /// Titan's `quality`.
    pub enum Quality ("quality") {
        /// Faster.
        Standard = "standard",
        /// More detail.
        Premium = "premium",
    }
}

wire_names! {
    /// Which API a generation request came through; its errors answer in that dialect.
    pub enum Dialect ("dialect") {
        /// `/v1/generations`.
        Native = "native",
        /// `/model/{id}/invoke`.
        Bedrock = "bedrock",
        /// `/v1/images/*`.
        OpenAi = "openai",
        /// The seed routes.
        Seed = "seed",
    }
}

wire_names! {
    /// Why an engine made no images: the code every layer reports, from the engine to
    /// the job's results to each dialect's error.
    pub enum EngineErrorCode ("engine error code") {
        /// The request is valid in general but not for this engine.
        InvalidRequest = "invalid-request",
        /// A content filter refused the prompt or an image.
        ContentFiltered = "content-filtered",
        /// The engine cannot do this task.
        UnsupportedTask = "engine-unsupported-task",
        /// The provider is throttling; try later.
        Throttled = "engine-throttled",
        /// The provider failed.
        Failed = "engine-failed",
        /// The engine cannot run now (its model is not installed).
        Unavailable = "engine-unavailable",
        /// The work was cancelled.
        Cancelled = "cancelled",
        /// A bug or resource failure inside the engine.
        Internal = "engine-internal-error",
    }
}

impl EngineErrorCode {
    /// A stored code; one this version does not know reads as [`EngineErrorCode::Failed`].
    pub fn from_stored(code: &str) -> EngineErrorCode {
        code.parse().unwrap_or(EngineErrorCode::Failed)
    }
}

/// The stored request of a `generate` job: the Bedrock-model body exactly as it will be
/// run (style applied, seed fixed, so a retry or a re-run produces the same images), the
/// engine and model chosen at submission, and what the history shows. The body stays JSON
/// here; the worker parses it with the engines crate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateSpec {
    /// The InvokeModel body (Titan Image Generator v2 / Nova Canvas).
    pub request: serde_json::Value,
    /// The model id whose rules apply, e.g. `amazon.titan-image-generator-v2:0`.
    pub model: String,
    /// The engine that runs it, e.g. `classic`.
    pub engine: String,
    /// How the images are encoded.
    pub output_format: OutputFormat,
    /// Lossy quality 1–100, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_quality: Option<u8>,
    /// The style preset applied, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style_preset: Option<String>,
    /// The prompt as the user wrote it (before the style was added).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The negative prompt as the user wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_prompt: Option<String>,
    /// What the request does.
    pub task_type: TaskType,
    /// The quota class it was counted in (`generate` or `edit`).
    pub operation: OpClass,
    /// Requested output size.
    pub width: u32,
    /// Requested output size.
    pub height: u32,
    /// Images requested.
    pub number_of_images: u32,
    /// The seed used.
    pub seed: u32,
    /// Prompt adherence.
    pub cfg_scale: f32,
    /// Titan's quality.
    pub quality: Quality,
    /// Which API the request came through.
    pub dialect: Dialect,
    /// Where to POST a signed webhook when the generation ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_and_refuse_others() {
        for task in TaskType::ALL {
            assert_eq!(task.as_str().parse::<TaskType>(), Ok(*task));
            let json = serde_json::to_string(task).unwrap();
            assert_eq!(serde_json::from_str::<TaskType>(&json).unwrap(), *task);
        }
        let error = "text_image".parse::<TaskType>().unwrap_err();
        assert!(error.to_string().contains("TEXT_IMAGE"), "{error}");
        assert!(serde_json::from_str::<Quality>("\"best\"").is_err());
    }

    #[test]
    fn output_formats_accept_a_clients_spellings_once() {
        assert_eq!(OutputFormat::parse("JPG"), Ok(OutputFormat::Jpeg));
        assert_eq!(OutputFormat::parse(" webp "), Ok(OutputFormat::Webp));
        assert_eq!(OutputFormat::parse("png"), Ok(OutputFormat::Png));
        let error = OutputFormat::parse("tiff").unwrap_err();
        assert_eq!(error.given, "tiff");
        // Stored specs use the exact names only.
        assert!(serde_json::from_str::<OutputFormat>("\"jpg\"").is_err());
    }

    #[test]
    fn unknown_stored_engine_codes_read_as_failures() {
        assert_eq!(
            EngineErrorCode::from_stored("engine-throttled"),
            EngineErrorCode::Throttled
        );
        assert_eq!(
            EngineErrorCode::from_stored("something-new"),
            EngineErrorCode::Failed
        );
    }

    #[test]
    fn edits_count_as_edits() {
        assert_eq!(TaskType::Inpainting.op_class(), OpClass::Edit);
        assert_eq!(TaskType::TextImage.op_class(), OpClass::Generate);
    }
}
