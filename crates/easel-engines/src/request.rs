//! The Titan Image Generator v2 / Nova Canvas request model. [`parse`] validates a JSON
//! body field by field and reports the first violation in Bedrock's style
//! (`#/textToImageParams/text: expected maxLength: 512, actual: 536`); what comes out is
//! a typed [`GenerationRequest`] whose images are decoded and checked.

mod schema;
mod types;

pub use schema::{ModelFamily, TITAN_SIZES, parse};
pub use types::{
    Color, GenerationConfig, GenerationRequest, InputImage, Mask, OutpaintMode, Quality, Task,
    TaskType, Violation,
};
