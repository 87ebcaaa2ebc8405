//! Field-by-field validation of the request body, reporting violations the way Bedrock's
//! JSON-schema validator words them, then decoding and cross-checking the images.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use image::GrayImage;
use rand::RngExt;
use serde_json::{Map, Value};

use super::types::{
    Color, GenerationConfig, GenerationRequest, InputImage, Mask, OutpaintMode, Quality, Task,
    TaskType, Violation,
};

/// Which model's limits apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFamily {
    /// `amazon.titan-image-generator-v2:0`: 512-character prompts, a fixed list of sizes.
    Titan,
    /// `amazon.nova-canvas-v1:0`: 1024-character prompts, free sizes within bounds.
    Nova,
}

impl ModelFamily {
    /// The most characters of a prompt or negative text.
    pub const fn max_text(self) -> usize {
        match self {
            ModelFamily::Titan => 512,
            ModelFamily::Nova => 1024,
        }
    }

    /// The largest seed.
    pub const fn max_seed(self) -> i64 {
        match self {
            ModelFamily::Titan => 2_147_483_646,
            ModelFamily::Nova => 858_993_459,
        }
    }

    fn default_cfg(self) -> f64 {
        match self {
            ModelFamily::Titan => 8.0,
            ModelFamily::Nova => 6.5,
        }
    }
}

/// Titan Image Generator v2's output sizes (width × height).
pub const TITAN_SIZES: &[(u32, u32)] = &[
    (1024, 1024),
    (768, 768),
    (512, 512),
    (768, 1152),
    (384, 576),
    (1152, 768),
    (576, 384),
    (768, 1280),
    (384, 640),
    (1280, 768),
    (640, 384),
    (896, 1152),
    (448, 576),
    (1152, 896),
    (576, 448),
    (768, 1408),
    (384, 704),
    (1408, 768),
    (704, 384),
    (640, 1408),
    (320, 704),
    (1408, 640),
    (704, 320),
    (1152, 640),
    (1173, 640),
];

/// Longest side of an input image.
pub const MAX_INPUT_SIDE: u32 = 1408;

type Checked<T> = Result<T, Violation>;

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "Null",
        Value::Bool(_) => "Boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "Integer",
        Value::Number(_) => "BigDecimal",
        Value::String(_) => "String",
        Value::Array(_) => "JSONArray",
        Value::Object(_) => "JSONObject",
    }
}

fn wrong_type(pointer: &str, expected: &str, found: &Value) -> Violation {
    Violation::new(
        pointer,
        format!("expected type: {expected}, found: {}", type_name(found)),
    )
}

/// An object being validated, with its pointer.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    pointer: String,
}

impl<'a> Obj<'a> {
    fn new(value: &'a Value, pointer: String) -> Checked<Self> {
        match value {
            Value::Object(map) => Ok(Obj { map, pointer }),
            other => Err(wrong_type(&pointer, "JSONObject", other)),
        }
    }

    fn child_pointer(&self, key: &str) -> String {
        if self.pointer == "#" {
            format!("#/{key}")
        } else {
            format!("{}/{key}", self.pointer)
        }
    }

    fn only(&self, allowed: &[&str]) -> Checked<()> {
        match self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(extra) => Err(Violation::new(
                &self.pointer,
                format!("extraneous key [{extra}] is not permitted"),
            )),
            None => Ok(()),
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn required(&self, key: &str) -> Checked<&'a Value> {
        self.get(key)
            .ok_or_else(|| Violation::new(&self.pointer, format!("required key [{key}] not found")))
    }

    fn object(&self, key: &str) -> Checked<Option<Obj<'a>>> {
        self.get(key)
            .map(|v| Obj::new(v, self.child_pointer(key)))
            .transpose()
    }

    fn string(&self, key: &str, min: usize, max: usize) -> Checked<Option<String>> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let pointer = self.child_pointer(key);
        let Value::String(text) = value else {
            return Err(wrong_type(&pointer, "String", value));
        };
        let length = text.chars().count();
        if length < min {
            return Err(Violation::new(
                pointer,
                format!("expected minLength: {min}, actual: {length}"),
            ));
        }
        if length > max {
            return Err(Violation::new(
                pointer,
                format!("expected maxLength: {max}, actual: {length}"),
            ));
        }
        Ok(Some(text.clone()))
    }

    fn required_string(&self, key: &str, min: usize, max: usize) -> Checked<String> {
        self.required(key)?;
        Ok(self.string(key, min, max)?.expect("present"))
    }

    fn integer(&self, key: &str, min: i64, max: i64) -> Checked<Option<i64>> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let pointer = self.child_pointer(key);
        let number = value
            .as_i64()
            .ok_or_else(|| wrong_type(&pointer, "Integer", value))?;
        bounds(
            &pointer,
            number as f64,
            &number.to_string(),
            min as f64,
            max as f64,
        )?;
        Ok(Some(number))
    }

    fn number(&self, key: &str, min: f64, max: f64) -> Checked<Option<f64>> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let pointer = self.child_pointer(key);
        let number = value
            .as_f64()
            .ok_or_else(|| wrong_type(&pointer, "Number", value))?;
        bounds(&pointer, number, &value.to_string(), min, max)?;
        Ok(Some(number))
    }

    fn boolean(&self, key: &str) -> Checked<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(wrong_type(&self.child_pointer(key), "Boolean", other)),
        }
    }

    fn one_of(&self, key: &str, allowed: &[&str]) -> Checked<Option<String>> {
        let Some(text) = self.string(key, 0, usize::MAX)? else {
            return Ok(None);
        };
        if allowed.contains(&text.as_str()) {
            Ok(Some(text))
        } else {
            Err(Violation::new(
                self.child_pointer(key),
                format!("{text} is not a valid enum value"),
            ))
        }
    }

    fn array(&self, key: &str, min: usize, max: usize) -> Checked<Option<&'a Vec<Value>>> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let pointer = self.child_pointer(key);
        let Value::Array(items) = value else {
            return Err(wrong_type(&pointer, "JSONArray", value));
        };
        if items.len() < min {
            return Err(Violation::new(
                pointer,
                format!("expected minimum item count: {min}, found: {}", items.len()),
            ));
        }
        if items.len() > max {
            return Err(Violation::new(
                pointer,
                format!("expected maximum item count: {max}, found: {}", items.len()),
            ));
        }
        Ok(Some(items))
    }

    fn image(&self, key: &str) -> Checked<Option<InputImage>> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        decode_image(value, &self.child_pointer(key)).map(Some)
    }

    fn required_image(&self, key: &str) -> Checked<InputImage> {
        self.required(key)?;
        Ok(self.image(key)?.expect("present"))
    }
}

fn bounds(pointer: &str, value: f64, shown: &str, min: f64, max: f64) -> Checked<()> {
    if value < min {
        return Err(Violation::new(
            pointer,
            format!("{shown} is not greater or equal to {}", show(min)),
        ));
    }
    if value > max {
        return Err(Violation::new(
            pointer,
            format!("{shown} is not less or equal to {}", show(max)),
        ));
    }
    Ok(())
}

fn show(bound: f64) -> String {
    if bound.fract() == 0.0 && bound.abs() < 1e15 {
        format!("{}", bound as i64)
    } else {
        bound.to_string()
    }
}

fn decode_image(value: &Value, pointer: &str) -> Checked<InputImage> {
    let Value::String(text) = value else {
        return Err(wrong_type(pointer, "String", value));
    };
    let bytes = STANDARD
        .decode(text.trim().trim_end_matches('='))
        .or_else(|_| STANDARD.decode(text.trim()))
        .map_err(|_| Violation::new(pointer, "the value is not valid base64"))?;
    let format = easel_image::sniff(&bytes);
    if !matches!(
        format,
        Some(easel_image::Format::Png | easel_image::Format::Jpeg)
    ) {
        return Err(Violation::new(
            pointer,
            "expected a base64-encoded PNG or JPEG image",
        ));
    }
    let info = easel_image::probe(&bytes)
        .map_err(|e| Violation::new(pointer, format!("the image could not be read: {e}")))?;
    let long_side = info.width.max(info.height);
    if long_side > MAX_INPUT_SIDE {
        return Err(Violation::new(
            pointer,
            format!(
                "expected an image of at most {MAX_INPUT_SIDE} px on its long side, actual: {long_side}"
            ),
        ));
    }
    let (_, pixels) = easel_image::decode_rgba(&bytes, &easel_image::Limits::default())
        .map_err(|e| Violation::new(pointer, format!("the image could not be decoded: {e}")))?;
    Ok(InputImage {
        pixels,
        base64: text.clone(),
    })
}

/// Parses and validates a request body for a model family.
pub fn parse(body: &Value, family: ModelFamily) -> Result<GenerationRequest, Violation> {
    let root = Obj::new(body, "#".to_owned())?;
    let task_type = match root.required("taskType")? {
        Value::String(name) => name.parse::<TaskType>().map_err(|_| {
            Violation::new("#/taskType", format!("{name} is not a valid enum value"))
        })?,
        other => return Err(wrong_type("#/taskType", "String", other)),
    };
    let params_key = task_type.params_key();
    root.only(&["taskType", params_key, "imageGenerationConfig"])?;
    let params = match root.object(params_key)? {
        Some(params) => params,
        None => {
            return Err(Violation::new(
                "#",
                format!("required key [{params_key}] not found"),
            ));
        }
    };
    let max_text = family.max_text();
    let task = match task_type {
        TaskType::TextImage => {
            params.only(&[
                "text",
                "negativeText",
                "conditionImage",
                "controlMode",
                "controlStrength",
            ])?;
            if params.get("conditionImage").is_some() {
                return Err(Violation::new(
                    params.child_pointer("conditionImage"),
                    "image conditioning is not supported by Easel's engines",
                ));
            }
            Task::TextImage {
                text: params.required_string("text", 1, max_text)?,
                negative_text: params.string("negativeText", 1, max_text)?,
            }
        }
        TaskType::Inpainting => {
            params.only(&[
                "image",
                "text",
                "negativeText",
                "maskImage",
                "maskPrompt",
                "returnMask",
            ])?;
            let image = params.required_image("image")?;
            Task::Inpainting {
                mask: mask(&params, &image, max_text)?,
                text: params.string("text", 1, max_text)?,
                negative_text: params.string("negativeText", 1, max_text)?,
                return_mask: params.boolean("returnMask")?.unwrap_or(false),
                image,
            }
        }
        TaskType::Outpainting => {
            params.only(&[
                "image",
                "text",
                "negativeText",
                "maskImage",
                "maskPrompt",
                "outPaintingMode",
                "returnMask",
            ])?;
            let image = params.required_image("image")?;
            let text = params.required_string("text", 1, max_text)?;
            let mode = match params
                .one_of("outPaintingMode", &["DEFAULT", "PRECISE"])?
                .as_deref()
            {
                Some("PRECISE") => OutpaintMode::Precise,
                _ => OutpaintMode::Default,
            };
            Task::Outpainting {
                mask: mask(&params, &image, max_text)?,
                text,
                negative_text: params.string("negativeText", 1, max_text)?,
                mode,
                return_mask: params.boolean("returnMask")?.unwrap_or(false),
                image,
            }
        }
        TaskType::ImageVariation => {
            params.only(&["images", "text", "negativeText", "similarityStrength"])?;
            params.required("images")?;
            let items = params.array("images", 1, 5)?.expect("present");
            let pointer = params.child_pointer("images");
            let images = items
                .iter()
                .enumerate()
                .map(|(i, v)| decode_image(v, &format!("{pointer}/{i}")))
                .collect::<Checked<Vec<_>>>()?;
            Task::ImageVariation {
                images,
                text: params.string("text", 1, max_text)?,
                negative_text: params.string("negativeText", 1, max_text)?,
                similarity_strength: params
                    .number("similarityStrength", 0.2, 1.0)?
                    .unwrap_or(0.7) as f32,
            }
        }
        TaskType::BackgroundRemoval => {
            params.only(&["image"])?;
            Task::BackgroundRemoval {
                image: params.required_image("image")?,
            }
        }
        TaskType::ColorGuidedGeneration => {
            params.only(&["text", "negativeText", "colors", "referenceImage"])?;
            let text = params.required_string("text", 1, max_text)?;
            params.required("colors")?;
            let items = params.array("colors", 1, 10)?.expect("present");
            let pointer = params.child_pointer("colors");
            let colors = items
                .iter()
                .enumerate()
                .map(|(i, v)| color(v, &format!("{pointer}/{i}")))
                .collect::<Checked<Vec<_>>>()?;
            Task::ColorGuided {
                text,
                negative_text: params.string("negativeText", 1, max_text)?,
                colors,
                reference_image: params.image("referenceImage")?,
            }
        }
    };
    let config = generation_config(&root, &task, family)?;
    Ok(GenerationRequest {
        task,
        config,
        family,
    })
}

fn mask(params: &Obj<'_>, image: &InputImage, max_text: usize) -> Checked<Mask> {
    match (params.get("maskImage"), params.get("maskPrompt")) {
        (Some(_), Some(_)) => Err(Violation::new(
            &params.pointer,
            "only one of [maskImage, maskPrompt] may be given",
        )),
        (None, None) => Err(Violation::new(
            &params.pointer,
            "required key [maskImage] or [maskPrompt] not found",
        )),
        (None, Some(_)) => Ok(Mask::Prompt(
            params.string("maskPrompt", 1, max_text)?.expect("present"),
        )),
        (Some(value), None) => {
            let pointer = params.child_pointer("maskImage");
            let decoded = decode_image(value, &pointer)?;
            let (w, h) = decoded.pixels.dimensions();
            let (iw, ih) = image.pixels.dimensions();
            if (w, h) != (iw, ih) {
                return Err(Violation::new(
                    pointer,
                    format!("expected the size of the input image, {iw}x{ih}, actual: {w}x{h}"),
                ));
            }
            // Black marks the masked area; anything darker than mid-grey counts, so a
            // JPEG-compressed mask still works.
            let masked = GrayImage::from_fn(w, h, |x, y| {
                let p = decoded.pixels.get_pixel(x, y).0;
                let luma =
                    (u32::from(p[0]) * 299 + u32::from(p[1]) * 587 + u32::from(p[2]) * 114) / 1000;
                image::Luma([if luma < 128 { 255 } else { 0 }])
            });
            if masked.pixels().all(|p| p.0[0] == 0) {
                return Err(Violation::new(
                    pointer,
                    "the mask has no black (masked) pixels",
                ));
            }
            Ok(Mask::Image {
                masked,
                base64: decoded.base64,
            })
        }
    }
}

fn color(value: &Value, pointer: &str) -> Checked<Color> {
    let Value::String(text) = value else {
        return Err(wrong_type(pointer, "String", value));
    };
    let hex = text
        .strip_prefix('#')
        .filter(|h| h.len() == 6 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    let Some(hex) = hex else {
        return Err(Violation::new(
            pointer,
            format!("string [{text}] does not match pattern ^#[0-9A-Fa-f]{{6}}$"),
        ));
    };
    let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).expect("checked hex digits");
    Ok(Color([channel(0), channel(2), channel(4)]))
}

fn generation_config(
    root: &Obj<'_>,
    task: &Task,
    family: ModelFamily,
) -> Checked<GenerationConfig> {
    let empty = Value::Object(Map::new());
    let config = match root.object("imageGenerationConfig")? {
        Some(config) => config,
        None => Obj::new(&empty, "#/imageGenerationConfig".to_owned())?,
    };
    config.only(&[
        "numberOfImages",
        "quality",
        "cfgScale",
        "height",
        "width",
        "seed",
    ])?;
    let number_of_images = config.integer("numberOfImages", 1, 5)?.unwrap_or(1) as u32;
    let quality = match config
        .one_of("quality", &["standard", "premium"])?
        .as_deref()
    {
        Some("premium") => Quality::Premium,
        _ => Quality::Standard,
    };
    let cfg_scale = config
        .number("cfgScale", 1.1, 10.0)?
        .unwrap_or(family.default_cfg()) as f32;
    let width = config.integer("width", 1, 4096)?.map(|w| w as u32);
    let height = config.integer("height", 1, 4096)?.map(|h| h as u32);
    let seed = config.integer("seed", 0, family.max_seed())?;
    let (width, height) = output_size(&config, task, family, width, height)?;
    Ok(GenerationConfig {
        number_of_images,
        quality,
        cfg_scale,
        width,
        height,
        seed: seed.map_or_else(
            || rand::rng().random_range(0..=family.max_seed() as u32),
            |s| s as u32,
        ),
        seed_given: seed.is_some(),
    })
}

fn output_size(
    config: &Obj<'_>,
    task: &Task,
    family: ModelFamily,
    width: Option<u32>,
    height: Option<u32>,
) -> Checked<(u32, u32)> {
    let edited = match task {
        Task::Inpainting { image, .. } | Task::BackgroundRemoval { image } => {
            return Ok(image.pixels.dimensions());
        }
        Task::Outpainting { image, .. } => Some(image.pixels.dimensions()),
        _ => None,
    };
    if let Some((iw, ih)) = edited {
        // Outpainting may extend the canvas; it never shrinks the image: a side smaller
        // than the image's is the image's (so any width and height the document allows
        // is taken, whatever the image's size).
        let (w, h) = (width.unwrap_or(iw).max(iw), height.unwrap_or(ih).max(ih));
        if w.max(h) > 4096 {
            return Err(Violation::new(
                &config.pointer,
                format!("the canvas {w}x{h} is larger than 4096 px"),
            ));
        }
        return Ok((w, h));
    }
    let (w, h) = (width.unwrap_or(1024), height.unwrap_or(1024));
    match family {
        ModelFamily::Titan if !TITAN_SIZES.contains(&(w, h)) => Err(Violation::new(
            &config.pointer,
            format!(
                "{w}x{h} is not an allowed size; allowed: {}",
                TITAN_SIZES
                    .iter()
                    .map(|(w, h)| format!("{w}x{h}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        ModelFamily::Nova => {
            let ok = (320..=4096).contains(&w)
                && (320..=4096).contains(&h)
                && w % 16 == 0
                && h % 16 == 0
                && u64::from(w) * u64::from(h) <= 4_194_304
                && w.max(h) <= 4 * w.min(h);
            if ok {
                Ok((w, h))
            } else {
                Err(Violation::new(
                    &config.pointer,
                    format!(
                        "{w}x{h} is not an allowed size: each side 320–4096 px and a multiple of 16, at most 4,194,304 pixels, aspect ratio at most 4:1"
                    ),
                ))
            }
        }
        ModelFamily::Titan => Ok((w, h)),
    }
}
