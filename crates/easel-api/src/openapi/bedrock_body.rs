//! Schemas of Amazon Bedrock's InvokeModel body for Titan Image Generator v2 and Nova
//! Canvas, for the OpenAPI document only. Requests are validated field by field by
//! `easel_engines::request` (with Bedrock's own messages), not deserialized into these
//! types: they describe that validation's rules so clients and tools can see them.
//! (`Serialize` is derived only so that serde's attributes name the fields.)

// Described, never built: nothing constructs or reads these types.
#![allow(dead_code)]

use serde::Serialize;
use utoipa::ToSchema;

/// The task, which names the parameters object that must come with it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskType {
    /// `textToImageParams`.
    TextImage,
    /// `inPaintingParams`.
    Inpainting,
    /// `outPaintingParams`.
    Outpainting,
    /// `imageVariationParams`.
    ImageVariation,
    /// `backgroundRemovalParams`.
    BackgroundRemoval,
    /// `colorGuidedGenerationParams`.
    ColorGuidedGeneration,
}

/// An InvokeModel body: `taskType`, the parameters object of that task (and no other),
/// and optionally `imageGenerationConfig`. Texts are limited to 512 characters (Titan)
/// or 1024 (Nova Canvas); images are base64 PNG or JPEG, at most 1408 pixels a side.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvokeModelBody {
    task_type: TaskType,
    text_to_image_params: Option<TextToImageParams>,
    in_painting_params: Option<InPaintingParams>,
    out_painting_params: Option<OutPaintingParams>,
    image_variation_params: Option<ImageVariationParams>,
    background_removal_params: Option<BackgroundRemovalParams>,
    color_guided_generation_params: Option<ColorGuidedGenerationParams>,
    image_generation_config: Option<ImageGenerationConfig>,
}

/// `TEXT_IMAGE`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TextToImageParams {
    /// The prompt.
    #[schema(min_length = 1, max_length = 1024)]
    text: String,
    /// What to keep out of the image.
    #[schema(min_length = 1, max_length = 1024)]
    negative_text: Option<String>,
}

/// `INPAINTING`: change what a mask covers. Exactly one of `maskImage` and `maskPrompt`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InPaintingParams {
    /// Base64 PNG or JPEG.
    image: String,
    /// What to put in the masked area (absent: remove what is there).
    #[schema(min_length = 1, max_length = 1024)]
    text: Option<String>,
    #[schema(min_length = 1, max_length = 1024)]
    negative_text: Option<String>,
    /// Base64 image of the input's size: black marks the area to change.
    mask_image: Option<String>,
    /// Names the area to change instead of a mask image.
    #[schema(min_length = 1, max_length = 1024)]
    mask_prompt: Option<String>,
    return_mask: Option<bool>,
}

/// `OUTPAINTING`: change what a mask leaves out (extend or replace the surroundings).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutPaintingParams {
    /// Base64 PNG or JPEG.
    image: String,
    #[schema(min_length = 1, max_length = 1024)]
    text: String,
    #[schema(min_length = 1, max_length = 1024)]
    negative_text: Option<String>,
    /// Base64 image of the input's size: black marks the area to keep.
    mask_image: Option<String>,
    #[schema(min_length = 1, max_length = 1024)]
    mask_prompt: Option<String>,
    /// `DEFAULT` or `PRECISE`.
    #[schema(example = "DEFAULT")]
    out_painting_mode: Option<String>,
    return_mask: Option<bool>,
}

/// `IMAGE_VARIATION`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageVariationParams {
    /// 1 to 5 base64 images.
    #[schema(min_items = 1, max_items = 5)]
    images: Vec<String>,
    #[schema(min_length = 1, max_length = 1024)]
    text: Option<String>,
    #[schema(min_length = 1, max_length = 1024)]
    negative_text: Option<String>,
    /// 0.2 to 1.0 (default 0.7).
    #[schema(minimum = 0.2, maximum = 1.0)]
    similarity_strength: Option<f64>,
}

/// `BACKGROUND_REMOVAL`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackgroundRemovalParams {
    /// Base64 PNG or JPEG.
    image: String,
}

/// `COLOR_GUIDED_GENERATION`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ColorGuidedGenerationParams {
    #[schema(min_length = 1, max_length = 1024)]
    text: String,
    #[schema(min_length = 1, max_length = 1024)]
    negative_text: Option<String>,
    /// 1 to 10 colours as `#RRGGBB`.
    #[schema(min_items = 1, max_items = 10, example = json!(["#ff8800"]))]
    colors: Vec<String>,
    /// Base64 image whose palette guides the result.
    reference_image: Option<String>,
}

/// How many images, their size and the sampling settings.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageGenerationConfig {
    /// 1 to 5 (default 1; an engine may allow fewer).
    #[schema(minimum = 1, maximum = 5)]
    number_of_images: Option<u32>,
    /// `standard` (default) or `premium`.
    #[schema(example = "standard")]
    quality: Option<String>,
    /// 1.1 to 10 (default 8 for Titan, 6.5 for Nova Canvas).
    #[schema(minimum = 1.1, maximum = 10.0)]
    cfg_scale: Option<f64>,
    /// Pixels (Titan: one of its fixed sizes; edits default to the input's size).
    #[schema(minimum = 1, maximum = 4096)]
    width: Option<u32>,
    /// Pixels.
    #[schema(minimum = 1, maximum = 4096)]
    height: Option<u32>,
    /// 0 to 2147483646 (Titan) or 858993459 (Nova Canvas); absent: random.
    #[schema(minimum = 0, maximum = 2147483646_i64)]
    seed: Option<u32>,
}

/// `POST /v1/generations`: an InvokeModel body plus Easel's options.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NativeGenerationBody {
    #[serde(flatten)]
    body: InvokeModelBody,
    /// An engine by name (`GET /v1/engines`); absent: the first that can do the task.
    engine: Option<String>,
    /// `amazon.titan-image-generator-v2:0` (default) or `amazon.nova-canvas-v1:0`: whose
    /// request rules apply.
    #[schema(example = "amazon.titan-image-generator-v2:0")]
    model: Option<String>,
    /// `png` (default), `jpeg` or `webp`.
    #[schema(example = "png")]
    output_format: Option<String>,
    /// Lossy quality, 1 to 100.
    #[schema(minimum = 1, maximum = 100)]
    output_quality: Option<u8>,
    /// A style preset by name (`GET /v1/engines` lists them); it needs a prompt.
    style_preset: Option<String>,
    /// An `http(s)` URL that gets a signed webhook when the generation ends (as for
    /// jobs: Standard Webhooks headers, retried until a 2xx; private addresses refused
    /// unless the deployment allows them).
    #[schema(min_length = 1, max_length = 2048)]
    callback_url: Option<String>,
}
