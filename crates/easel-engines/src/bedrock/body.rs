//! The Bedrock `InvokeModel` body rebuilt from a typed request: what Titan Image
//! Generator v2 and Nova Canvas accept, and what [`crate::request::parse`] turns back
//! into the same request.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use image::{Rgba, RgbaImage};
use serde_json::{Map, Number, Value, json};

use crate::request::{GenerationRequest, InputImage, Mask, OutpaintMode, Task};

/// The Bedrock JSON body for `request`, in the wire format of Titan Image Generator v2
/// and Nova Canvas (`taskType`, the task's parameters object, `imageGenerationConfig`).
///
/// - Images and mask images are the base64 text as received.
/// - Optional fields are written only when set (`negativeText`, `text` where optional,
///   `referenceImage`); `returnMask` only when true, since Nova does not know it.
/// - `imageGenerationConfig` carries `numberOfImages`, `quality`, `cfgScale` and `seed`
///   (the seed used, so the call is reproducible), plus `width`/`height` for the
///   generating tasks. Editing tasks take their size from the input image, so width and
///   height are left out for them, and `BACKGROUND_REMOVAL` gets no config at all
///   (Bedrock takes none for it).
/// - OUTPAINTING onto a canvas larger than the image (Easel's extension; Bedrock keeps
///   the image's size) is sent the way Bedrock understands it: the image centred on an
///   opaque grey canvas of the requested size and a mask image of that size, white
///   (to be generated) outside the image. Parsing the result gives back the same request.
pub fn to_bedrock_body(request: &GenerationRequest) -> Value {
    let task = &request.task;
    let params = match task {
        Task::TextImage {
            text,
            negative_text,
        } => prompt_fields(Some(text), negative_text.as_deref()),
        Task::Inpainting {
            image,
            mask,
            text,
            negative_text,
            return_mask,
        } => {
            let mut params = prompt_fields(text.as_deref(), negative_text.as_deref());
            params.insert("image".into(), image.base64.clone().into());
            insert_mask(&mut params, mask);
            if *return_mask {
                params.insert("returnMask".into(), true.into());
            }
            params
        }
        Task::Outpainting {
            image,
            mask,
            text,
            negative_text,
            mode,
            return_mask,
        } => {
            let mut params = prompt_fields(Some(text), negative_text.as_deref());
            let canvas = (request.config.width, request.config.height);
            let (image, mask) = fit_to_canvas(image, mask, canvas);
            params.insert("image".into(), image.into());
            insert_mask(&mut params, &mask);
            let mode = match mode {
                OutpaintMode::Default => "DEFAULT",
                OutpaintMode::Precise => "PRECISE",
            };
            params.insert("outPaintingMode".into(), mode.into());
            if *return_mask {
                params.insert("returnMask".into(), true.into());
            }
            params
        }
        Task::ImageVariation {
            images,
            text,
            negative_text,
            similarity_strength,
        } => {
            let mut params = prompt_fields(text.as_deref(), negative_text.as_deref());
            let images = images.iter().map(|i| Value::from(i.base64.clone()));
            params.insert("images".into(), images.collect());
            params.insert("similarityStrength".into(), decimal(*similarity_strength));
            params
        }
        Task::BackgroundRemoval { image } => {
            let mut params = Map::new();
            params.insert("image".into(), image.base64.clone().into());
            params
        }
        Task::ColorGuided {
            text,
            negative_text,
            colors,
            reference_image,
        } => {
            let mut params = prompt_fields(Some(text), negative_text.as_deref());
            let colors = colors.iter().map(|c| {
                let [r, g, b] = c.0;
                Value::from(format!("#{r:02x}{g:02x}{b:02x}"))
            });
            params.insert("colors".into(), colors.collect());
            if let Some(reference) = reference_image {
                params.insert("referenceImage".into(), reference.base64.clone().into());
            }
            params
        }
    };
    let task_type = task.task_type();
    let mut body = Map::new();
    body.insert("taskType".into(), task_type.as_str().into());
    body.insert(task_type.params_key().into(), Value::Object(params));
    if let Some(config) = generation_config(request) {
        body.insert("imageGenerationConfig".into(), config);
    }
    Value::Object(body)
}

fn prompt_fields(text: Option<&str>, negative_text: Option<&str>) -> Map<String, Value> {
    let mut params = Map::new();
    if let Some(text) = text {
        params.insert("text".into(), text.into());
    }
    if let Some(negative) = negative_text {
        params.insert("negativeText".into(), negative.into());
    }
    params
}

fn insert_mask(params: &mut Map<String, Value>, mask: &Mask) {
    match mask {
        Mask::Image { base64, .. } => params.insert("maskImage".into(), base64.clone().into()),
        Mask::Prompt(prompt) => params.insert("maskPrompt".into(), prompt.clone().into()),
    };
}

fn generation_config(request: &GenerationRequest) -> Option<Value> {
    let config = &request.config;
    let task_type = request.task.task_type();
    if matches!(request.task, Task::BackgroundRemoval { .. }) {
        return None;
    }
    let quality = config.quality.as_str();
    let mut out = json!({
        "numberOfImages": config.number_of_images,
        "quality": quality,
        "cfgScale": decimal(config.cfg_scale),
        "seed": config.seed,
    });
    if !task_type.is_edit() {
        out["width"] = config.width.into();
        out["height"] = config.height.into();
    }
    Some(out)
}

/// An `f32` as the JSON number it was written as (`7.1`, not `7.099999904632568`).
fn decimal(value: f32) -> Value {
    value
        .to_string()
        .parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// The image and mask to send for outpainting onto `canvas`: as received when the canvas
/// is the image's size, else both padded, the image centred as the classic engine
/// places it.
fn fit_to_canvas(image: &InputImage, mask: &Mask, canvas: (u32, u32)) -> (String, Mask) {
    let (iw, ih) = image.pixels.dimensions();
    let (w, h) = canvas;
    if (iw, ih) == (w, h) {
        return (image.base64.clone(), mask.clone());
    }
    let (ox, oy) = ((w - iw) / 2, (h - ih) / 2);
    // Nova refuses transparent input pixels; the padding is regenerated anyway.
    let mut padded = RgbaImage::from_pixel(w, h, Rgba([128, 128, 128, 255]));
    image::imageops::replace(&mut padded, &image.pixels, i64::from(ox), i64::from(oy));
    let mask = match mask {
        Mask::Prompt(prompt) => Mask::Prompt(prompt.clone()),
        Mask::Image { masked, .. } => {
            // Black keeps (outpainting); everything outside the image is generated.
            let grown = image::GrayImage::from_fn(w, h, |x, y| {
                let inside = x >= ox && y >= oy && x < ox + iw && y < oy + ih;
                let kept = inside && masked.get_pixel(x - ox, y - oy).0[0] != 0;
                image::Luma([if kept { 255 } else { 0 }])
            });
            let picture = RgbaImage::from_fn(w, h, |x, y| {
                let v = if grown.get_pixel(x, y).0[0] != 0 {
                    0
                } else {
                    255
                };
                Rgba([v, v, v, 255])
            });
            Mask::Image {
                masked: grown,
                base64: STANDARD.encode(png(&picture)),
            }
        }
    };
    (STANDARD.encode(png(&padded)), mask)
}

fn png(image: &RgbaImage) -> Vec<u8> {
    // Encoding an in-memory RGBA8 image of at most 4096² pixels to PNG cannot fail short
    // of running out of memory.
    crate::http::encode_png(image).expect("PNG encoding of an in-memory image")
}
