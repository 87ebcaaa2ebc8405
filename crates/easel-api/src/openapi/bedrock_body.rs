//! Schemas of Amazon Bedrock's InvokeModel body for Titan Image Generator v2 and Nova
//! Canvas, for the OpenAPI document only. Requests are validated field by field by
//! `easel_engines::request` (with Bedrock's own messages), not deserialized into these
//! types: they describe that validation's rules so clients and tools can see them.
//! (`Serialize` is derived only so that serde's attributes name the fields.)

// Described, never built: nothing constructs or reads these types.
#![allow(dead_code)]

use easel_engines::request::TITAN_SIZES;
use serde::Serialize;
use utoipa::openapi::schema::{
    AdditionalProperties, AllOfBuilder, AnyOfBuilder, ArrayBuilder, Discriminator, Object,
    ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

/// An InvokeModel body: `taskType`, the parameters object of that task (and no other),
/// and optionally `imageGenerationConfig`; nothing else. Texts are limited to 512
/// characters (Titan) or 1024 (Nova Canvas); images are base64 PNG or JPEG, at most 1408
/// pixels a side. The document gives one schema per task (`oneOf`), each allowing only
/// its own parameters object.
pub struct InvokeModelBody;

/// The tasks: `taskType`, its parameters' key, and their schema's name.
pub const TASKS: [(&str, &str, &str); 6] = [
    ("TEXT_IMAGE", "textToImageParams", "TextToImageParams"),
    ("INPAINTING", "inPaintingParams", "InPaintingParams"),
    ("OUTPAINTING", "outPaintingParams", "OutPaintingParams"),
    (
        "IMAGE_VARIATION",
        "imageVariationParams",
        "ImageVariationParams",
    ),
    (
        "BACKGROUND_REMOVAL",
        "backgroundRemovalParams",
        "BackgroundRemovalParams",
    ),
    (
        "COLOR_GUIDED_GENERATION",
        "colorGuidedGenerationParams",
        "ColorGuidedGenerationParams",
    ),
];

/// The parameters' schemas that have `text` and `negativeText` (a style preset needs
/// a prompt; the others have none).
pub const TEXTS: [&str; 5] = [
    "TextToImageParams",
    "InPaintingParams",
    "OutPaintingParams",
    "ImageVariationParams",
    "ColorGuidedGenerationParams",
];

/// The body of one task, with `extra` properties besides (Easel's options).
fn task_body(task: &str, key: &str, schema: &str, extra: &Object) -> Schema {
    let mut body = ObjectBuilder::new()
        .schema_type(Type::Object)
        .title(Some(task))
        .property(
            "taskType",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([task])),
        )
        .required("taskType")
        .property(key, Ref::from_schema_name(schema))
        .required(key)
        .property(
            "imageGenerationConfig",
            OneOfBuilder::new()
                .item(generation_config(task))
                .item(ObjectBuilder::new().schema_type(Type::Null))
                .description(Some("Absent or null: the defaults.")),
        )
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .build();
    for (name, property) in &extra.properties {
        body.properties.insert(name.clone(), property.clone());
    }
    Schema::Object(body)
}

/// Tasks whose `width` and `height` choose the output's size (edits keep or extend the
/// image's).
const SIZED_TASKS: [&str; 3] = ["TEXT_IMAGE", "IMAGE_VARIATION", "COLOR_GUIDED_GENERATION"];

/// Titan's sizes that Nova Canvas takes too (sides multiples of 16): the sizes both
/// models' rules allow, so whichever `model` or path picks, they are accepted.
pub fn shared_sizes() -> impl Iterator<Item = (u32, u32)> {
    TITAN_SIZES
        .iter()
        .copied()
        .filter(|(w, h)| w % 16 == 0 && h % 16 == 0 && *w.min(h) >= 320)
}

/// `imageGenerationConfig` of `task`: for tasks that choose a size, `width` and `height`
/// together one of [`shared_sizes`] (a side left out is 1024; neither: 1024×1024).
fn generation_config(task: &str) -> RefOr<Schema> {
    let config = Ref::from_schema_name("ImageGenerationConfig");
    if !SIZED_TASKS.contains(&task) {
        return RefOr::Ref(config);
    }
    let side = |value: u32| {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .enum_values(Some([value]))
    };
    let null = || ObjectBuilder::new().schema_type(Type::Null);
    let mut sizes = AnyOfBuilder::new().item(
        ObjectBuilder::new()
            .property("width", null())
            .property("height", null()),
    );
    for (w, h) in shared_sizes() {
        sizes = sizes.item(
            ObjectBuilder::new()
                .property("width", side(w))
                .required("width")
                .property("height", side(h))
                .required("height"),
        );
        // A side left out is 1024.
        if h == 1024 {
            sizes = sizes.item(
                ObjectBuilder::new()
                    .property("width", side(w))
                    .required("width")
                    .property("height", null()),
            );
        }
        if w == 1024 {
            sizes = sizes.item(
                ObjectBuilder::new()
                    .property("width", null())
                    .property("height", side(h))
                    .required("height"),
            );
        }
    }
    let config = AllOfBuilder::new()
        .item(config)
        .item(Schema::AnyOf(sizes.build()))
        .description(Some(
            "Titan takes its own sizes, Nova Canvas sides of 320 to 4096 in steps of 16 \
             (4:1 at most, 4.19 MP at most); this schema lists the sizes both take.",
        ))
        .build();
    RefOr::T(Schema::AllOf(config))
}

/// One body per task (`oneOf`, told apart by `taskType`).
fn bodies(extra: &Object) -> RefOr<Schema> {
    let mut one_of = OneOfBuilder::new();
    for (task, key, schema) in TASKS {
        one_of = one_of.item(task_body(task, key, schema, extra));
    }
    // The discriminator names the property only: the variants are inline, no mapping.
    let discriminator = Discriminator::new("taskType");
    RefOr::T(Schema::OneOf(
        one_of.discriminator(Some(discriminator)).build(),
    ))
}

/// Adds the schemas the bodies refer to.
fn referenced(schemas: &mut Vec<(String, RefOr<Schema>)>) {
    schemas.push(("TextToImageParams".into(), TextToImageParams::schema()));
    schemas.push(("InPaintingParams".into(), InPaintingParams::schema()));
    schemas.push(("OutPaintingParams".into(), OutPaintingParams::schema()));
    schemas.push((
        "ImageVariationParams".into(),
        ImageVariationParams::schema(),
    ));
    schemas.push((
        "BackgroundRemovalParams".into(),
        BackgroundRemovalParams::schema(),
    ));
    schemas.push((
        "ColorGuidedGenerationParams".into(),
        ColorGuidedGenerationParams::schema(),
    ));
    schemas.push((
        "ImageGenerationConfig".into(),
        ImageGenerationConfig::schema(),
    ));
}

impl PartialSchema for InvokeModelBody {
    fn schema() -> RefOr<Schema> {
        bodies(&Object::new())
    }
}

impl ToSchema for InvokeModelBody {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        referenced(schemas);
    }
}

/// `TEXT_IMAGE`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TextToImageParams {
    /// The prompt.
    #[schema(min_length = 1, max_length = 1024)]
    text: String,
    /// What to keep out of the image.
    #[schema(min_length = 1, max_length = 1024)]
    negative_text: Option<String>,
    /// Taken and not used (image conditioning: `conditionImage` is refused).
    control_mode: Option<serde_json::Value>,
    /// Taken and not used.
    control_strength: Option<serde_json::Value>,
}

/// `INPAINTING`: change what a mask covers. Exactly one of `maskImage` and `maskPrompt`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InPaintingParams {
    /// Base64 PNG or JPEG.
    #[schema(format = "base64-image")]
    image: String,
    /// What to put in the masked area (absent: remove what is there).
    #[schema(min_length = 1, max_length = 1024)]
    text: Option<String>,
    #[schema(min_length = 1, max_length = 1024)]
    negative_text: Option<String>,
    /// Base64 image of the input's size: black marks the area to change.
    #[schema(format = "base64-image")]
    mask_image: Option<String>,
    /// Names the area to change instead of a mask image.
    #[schema(min_length = 1, max_length = 1024)]
    mask_prompt: Option<String>,
    return_mask: Option<bool>,
}

/// `OUTPAINTING`: change what a mask leaves out (extend or replace the surroundings).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutPaintingParams {
    /// Base64 PNG or JPEG.
    #[schema(format = "base64-image")]
    image: String,
    #[schema(min_length = 1, max_length = 1024)]
    text: String,
    #[schema(min_length = 1, max_length = 1024)]
    negative_text: Option<String>,
    /// Base64 image of the input's size: black marks the area to keep.
    #[schema(format = "base64-image")]
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
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageVariationParams {
    /// 1 to 5 base64 images.
    #[schema(schema_with = base64_images)]
    images: Vec<String>,
    #[schema(min_length = 1, max_length = 1024)]
    text: Option<String>,
    #[schema(min_length = 1, max_length = 1024)]
    negative_text: Option<String>,
    /// 0.2 to 1.0 (default 0.7).
    #[schema(minimum = 0.2, maximum = 1.0)]
    similarity_strength: Option<f64>,
}

/// `base64-image`: a PNG or JPEG, base64-encoded (the document's own string format).
pub const BASE64_IMAGE: &str = "base64-image";

/// 1 to 5 base64 images.
fn base64_images() -> utoipa::openapi::schema::Array {
    let image = ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::Custom(BASE64_IMAGE.to_owned())));
    ArrayBuilder::new()
        .items(image)
        .min_items(Some(1))
        .max_items(Some(5))
        .build()
}

/// `BACKGROUND_REMOVAL`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackgroundRemovalParams {
    /// Base64 PNG or JPEG.
    #[schema(format = "base64-image")]
    image: String,
}

/// `COLOR_GUIDED_GENERATION`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ColorGuidedGenerationParams {
    #[schema(min_length = 1, max_length = 1024)]
    text: String,
    #[schema(min_length = 1, max_length = 1024)]
    negative_text: Option<String>,
    /// 1 to 10 colours as `#RRGGBB`.
    #[schema(min_items = 1, max_items = 10, example = json!(["#ff8800"]))]
    colors: Vec<String>,
    /// Base64 image whose palette guides the result.
    #[schema(format = "base64-image")]
    reference_image: Option<String>,
}

/// How many images, their size and the sampling settings.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
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
    /// Pixels (Titan: one of its fixed sizes; edits default to the input's size;
    /// outpainting: a side under the image's is the image's).
    #[schema(minimum = 1, maximum = 4096)]
    width: Option<u32>,
    /// Pixels.
    #[schema(minimum = 1, maximum = 4096)]
    height: Option<u32>,
    /// 0 to 2147483646 (Titan) or 858993459 (Nova Canvas); absent: random.
    #[schema(minimum = 0, maximum = 2147483646_i64)]
    seed: Option<u32>,
}

/// `POST /v1/generations`: an InvokeModel body plus Easel's options (one schema per task,
/// as for [`InvokeModelBody`]).
pub struct NativeGenerationBody;

impl PartialSchema for NativeGenerationBody {
    fn schema() -> RefOr<Schema> {
        match NativeOptions::schema() {
            RefOr::T(Schema::Object(options)) => bodies(&options),
            _ => unreachable!("NativeOptions is an object"),
        }
    }
}

impl ToSchema for NativeGenerationBody {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        referenced(schemas);
    }
}

/// Easel's options of `POST /v1/generations`, besides the InvokeModel body.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct NativeOptions {
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
