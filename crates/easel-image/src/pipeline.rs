//! The pipeline model: an ordered list of operations plus output options, in the JSON
//! (and TOML) form that the jobs API and `[presets.NAME]` configuration use. See the
//! crate README for the documented form with an example per operation.

use serde::{Deserialize, Serialize};

use crate::format::Format;
use crate::objects::DetectParams;
use crate::params::{Color, Filter, Gravity, ResizeMode};

/// What to do to an image: operations in order, then how to encode the result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// Operations applied in order after decoding (and auto-orientation).
    #[serde(default)]
    pub ops: Vec<Op>,
    /// Encoder settings; by default the output keeps the input's format (GIF → PNG).
    #[serde(default)]
    pub output: OutputOptions,
    /// Apply the EXIF orientation tag before any operation. Default `true`.
    #[serde(default = "yes")]
    pub auto_orient: bool,
}

fn yes() -> bool {
    true
}

impl Default for Pipeline {
    fn default() -> Self {
        Pipeline {
            ops: Vec::new(),
            output: OutputOptions::default(),
            auto_orient: true,
        }
    }
}

/// One operation, written `{"op": "<name>", ...params}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// Scale the image (see [`ResizeMode`]).
    Resize {
        /// Target width; may be omitted in `fit` mode to constrain the height only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        width: Option<u32>,
        /// Target height; may be omitted in `fit` mode to constrain the width only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        height: Option<u32>,
        /// `fit` (default), `fill` or `exact`.
        #[serde(default)]
        mode: ResizeMode,
        /// Which part to keep when `fill` crops. Default `center`.
        #[serde(default)]
        gravity: Gravity,
        /// Allow scaling up. Default `false`: a smaller image keeps its size.
        #[serde(default)]
        enlarge: bool,
        /// Resampling filter. Default `lanczos3`.
        #[serde(default)]
        filter: Filter,
    },
    /// Cut out a rectangle, at `x`/`y` if given, otherwise placed by `gravity`.
    Crop {
        /// Width of the rectangle (clamped to the image).
        width: u32,
        /// Height of the rectangle (clamped to the image).
        height: u32,
        /// Left edge; give both `x` and `y` or neither.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        x: Option<u32>,
        /// Top edge; give both `x` and `y` or neither.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        y: Option<u32>,
        /// Placement when `x`/`y` are omitted. Default `center`.
        #[serde(default)]
        gravity: Gravity,
    },
    /// Rotate clockwise by 90, 180 or 270 degrees.
    Rotate {
        /// 90, 180 or 270.
        degrees: u32,
    },
    /// Mirror top-bottom.
    Flip,
    /// Mirror left-right.
    Flop,
    /// Gaussian blur: of the whole image, or with `classes` of the detected objects of
    /// those classes only (privacy blur of faces or plates; `[]`: every object).
    Blur {
        /// Standard deviation in pixels, (0, 100].
        sigma: f64,
        /// Blur only these detected classes (needs a `detect` operation).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        classes: Option<Vec<String>>,
    },
    /// Unsharp mask.
    Sharpen {
        /// Radius of the blur the mask is built from, in pixels, (0, 10]. Default 1.0.
        #[serde(default = "one")]
        sigma: f64,
        /// Strength, (0, 10]. Default 1.0.
        #[serde(default = "one")]
        amount: f64,
    },
    /// Draw text with the bundled DejaVu Sans Bold font.
    WatermarkText(TextWatermark),
    /// Draw a PNG (with alpha) over the image.
    WatermarkImage(ImageWatermark),
    /// Find objects with a detection model. It runs on the (oriented) source image
    /// whatever its position, so the job reports boxes in source pixels; `annotate`,
    /// `blur` with `classes` and `gravity: "objects"` use its boxes, moved along with
    /// every resize, crop, rotation and mirror. At most one per pipeline.
    Detect(DetectParams),
    /// Draw the detected objects' boxes and labels.
    Annotate(Annotate),
}

/// How `annotate` draws.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Annotate {
    /// Box colour; by default one colour per class from a fixed palette.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<Color>,
    /// Line width as a fraction of the image's shorter side, (0, 0.05]. Default 0.004
    /// (at least 2 pixels).
    #[serde(default = "line_width")]
    pub thickness: f64,
    /// Write each box's label and confidence above it. Default `true`.
    #[serde(default = "yes")]
    pub labels: bool,
}

fn line_width() -> f64 {
    0.004
}

impl Default for Annotate {
    fn default() -> Self {
        Annotate {
            color: None,
            thickness: line_width(),
            labels: true,
        }
    }
}

fn one() -> f64 {
    1.0
}

impl Op {
    /// The operation's name as written in `"op"`.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Resize { .. } => "resize",
            Op::Crop { .. } => "crop",
            Op::Rotate { .. } => "rotate",
            Op::Flip => "flip",
            Op::Flop => "flop",
            Op::Blur { .. } => "blur",
            Op::Sharpen { .. } => "sharpen",
            Op::WatermarkText(_) => "watermark_text",
            Op::WatermarkImage(_) => "watermark_image",
            Op::Detect(_) => "detect",
            Op::Annotate(_) => "annotate",
        }
    }

    /// Whether the operation needs the objects a `detect` operation finds.
    pub fn uses_objects(&self) -> bool {
        match self {
            Op::Annotate(_)
            | Op::Blur {
                classes: Some(_), ..
            } => true,
            Op::Resize { gravity, .. } | Op::Crop { gravity, .. } => *gravity == Gravity::Objects,
            _ => false,
        }
    }
}

impl Pipeline {
    /// The pipeline's `detect` operation, if any.
    pub fn detect(&self) -> Option<&DetectParams> {
        self.ops.iter().find_map(|op| match op {
            Op::Detect(params) => Some(params),
            _ => None,
        })
    }

    /// The first class name an operation refers to (`detect`'s classes and weights,
    /// `blur`'s classes) that the detection model's `names` lack, with the operation's
    /// index: checked when a job is submitted, so a typo is a 400 and not a failed job.
    pub fn unknown_class(&self, names: &[String]) -> Option<(usize, &str)> {
        self.ops.iter().enumerate().find_map(|(i, op)| {
            let mut used: Vec<&String> = match op {
                Op::Detect(p) => p.classes.iter().flatten().collect(),
                Op::Blur {
                    classes: Some(c), ..
                } => c.iter().collect(),
                _ => Vec::new(),
            };
            if let Op::Detect(DetectParams {
                weights: Some(w), ..
            }) = op
            {
                used.extend(w.keys());
            }
            used.into_iter()
                .find(|c| !names.contains(c))
                .map(|c| (i, c.as_str()))
        })
    }
}

/// Where and how strongly a watermark is drawn (both kinds share it). Sizes are
/// fractions of the output width, so a mark looks the same on any image size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Placement {
    pub opacity: f32,
    pub gravity: Gravity,
    pub margin: f32,
    pub tile: bool,
}

fn half() -> f64 {
    0.5
}
fn southeast() -> Gravity {
    Gravity::Southeast
}
fn two_percent() -> f64 {
    0.02
}

/// A text watermark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextWatermark {
    /// The text (one line, at most 256 characters).
    pub text: String,
    /// Font size (em height) as a fraction of the image width, (0, 1]. Default 0.05.
    #[serde(default = "five_percent")]
    pub size: f64,
    /// Text colour. Default `#ffffff`.
    #[serde(default)]
    pub color: Color,
    /// Opacity in [0, 1]. Default 0.5.
    #[serde(default = "half")]
    pub opacity: f64,
    /// Anchor. Default `southeast`.
    #[serde(default = "southeast")]
    pub gravity: Gravity,
    /// Distance from the anchored edges, as a fraction of the image width, [0, 0.5].
    /// Default 0.02.
    #[serde(default = "two_percent")]
    pub margin: f64,
    /// Repeat the mark over the whole image in a grid (gravity is then ignored).
    #[serde(default)]
    pub tile: bool,
}

fn five_percent() -> f64 {
    0.05
}

/// An image watermark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageWatermark {
    /// The mark: a PNG file, base64-encoded (standard alphabet, padding optional).
    pub png: String,
    /// Width of the mark as a fraction of the image width, (0, 1]. Default 0.2.
    #[serde(default = "fifth")]
    pub scale: f64,
    /// Opacity in [0, 1]. Default 0.5.
    #[serde(default = "half")]
    pub opacity: f64,
    /// Anchor. Default `southeast`.
    #[serde(default = "southeast")]
    pub gravity: Gravity,
    /// Distance from the anchored edges, as a fraction of the image width, [0, 0.5].
    /// Default 0.02.
    #[serde(default = "two_percent")]
    pub margin: f64,
    /// Repeat the mark over the whole image in a grid (gravity is then ignored).
    #[serde(default)]
    pub tile: bool,
}

fn fifth() -> f64 {
    0.2
}

/// Encoder settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutputOptions {
    /// Output format. Default: the input's (GIF input becomes PNG, HEIC/HEIF input
    /// becomes JPEG: they are read only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// Lossy quality 1–100 for JPEG (default 82), WebP (default 80) and AVIF
    /// (default 60).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<u8>,
    /// JPEG only: progressive encoding (with optimised Huffman tables).
    pub progressive: bool,
    /// WebP only: lossless encoding.
    pub lossless: bool,
    /// PNG only: zlib level 0–9. Default 6.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression: Option<u8>,
    /// AVIF only: encoder speed 0 (slowest, smallest file) to 9 (fastest). Default 8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed: Option<u8>,
    /// Keep the input's EXIF Copyright (and Artist) tags; all other metadata is
    /// always stripped.
    pub keep_copyright: bool,
    /// Colour that transparent pixels are flattened onto for formats without alpha
    /// (JPEG). Default `#ffffff`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background: Option<Color>,
}

impl TextWatermark {
    pub(crate) fn placement(&self) -> Placement {
        Placement {
            opacity: self.opacity as f32,
            gravity: self.gravity,
            margin: self.margin as f32,
            tile: self.tile,
        }
    }
}

impl ImageWatermark {
    pub(crate) fn placement(&self) -> Placement {
        Placement {
            opacity: self.opacity as f32,
            gravity: self.gravity,
            margin: self.margin as f32,
            tile: self.tile,
        }
    }
}
