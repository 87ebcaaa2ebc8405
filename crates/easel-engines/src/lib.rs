//! Generation and editing engines behind one trait, and the request model they all take:
//! the Amazon Bedrock Titan Image Generator v2 / Nova Canvas `InvokeModel` body, parsed
//! and validated with Bedrock's own error messages so Bedrock clients work unchanged.

pub mod classic;
pub mod engine;
pub mod registry;
pub mod request;

pub use classic::ClassicEngine;
pub use engine::{Capabilities, Engine, EngineError, GeneratedImage, NoProgress, Progress};
pub use registry::{ChooseError, Engines, NOVA_CANVAS, TITAN_IMAGE_V2, model_family};
