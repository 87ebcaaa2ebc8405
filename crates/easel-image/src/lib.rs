//! Easel's image engine: decode (JPEG, PNG, WebP, GIF, HEIC/HEIF, AVIF), pipeline
//! operations (resize, crop, rotate, flip/flop, blur, sharpen, text and image
//! watermarks; object detection through a caller-supplied detector, boxes drawn,
//! privacy blur, crops framing objects), encode (JPEG, PNG, WebP, GIF, AVIF), limits against hostile input,
//! and built-in presets. Pure: bytes in, bytes out, no I/O, no
//! async. The pipeline's JSON form is documented in this crate's README.

mod color;
mod decode;
mod encode;
mod error;
mod exif_meta;
mod format;
mod heif_boxes;
mod heif_coded;
mod heif_items;
mod heif_lib;
mod jpeg_markers;
mod limits;
mod objects;
mod ops;
mod params;
mod pipeline;
mod pixels;
mod presets;
mod probe;
mod process;
mod raster;
mod validate;

pub use error::ImageError;
pub use format::{Format, sniff};
pub use limits::Limits;
pub use objects::{
    DEFAULT_MAX_DETECTIONS, DEFAULT_MIN_CONFIDENCE, DetectParams, DetectedObject, ObjectDetector,
};
pub use params::{Color, Filter, Gravity, ResizeMode};
pub use pipeline::{Annotate, ImageWatermark, Op, OutputOptions, Pipeline, TextWatermark};
pub use pixels::{blur_regions_rgba, decode_rgba, encode_rgba, encode_rgba_with_parameters};
pub use presets::builtin_presets;
pub use probe::{ImageInfo, probe};
pub use process::{Output, process, process_with};
