//! Generation and editing engines behind one trait, and the request model they all take:
//! the Amazon Bedrock Titan Image Generator v2 / Nova Canvas `InvokeModel` body, parsed
//! and validated with Bedrock's own error messages so Bedrock clients work unchanged.

pub mod bedrock;
pub mod canvas;
pub mod classic;
pub mod engine;
pub mod http;
pub mod openai;
pub mod registry;
pub mod request;

pub use bedrock::{BedrockEngine, BedrockSettings, to_bedrock_body};
pub use canvas::{EditCanvas, edit_canvas};
pub use classic::ClassicEngine;
pub use engine::{Capabilities, Engine, EngineError, GeneratedImage, NoProgress, Progress};
pub use http::{RetryPolicy, SetupError};
pub use openai::{OpenAiEngine, OpenAiSettings};
pub use registry::{ChooseError, Engines, NOVA_CANVAS, TITAN_IMAGE_V2, model_family};
