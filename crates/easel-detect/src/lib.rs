//! Easel's object detector: YOLOv8 and YOLO11 detection models as Ultralytics exports
//! them to ONNX, parsed and checked on load (an unsupported operator is refused by
//! name), run on the CPU by Easel's own kernels, with letterboxing, head decoding and
//! per-class NMS around the network.

pub mod catalog;
pub mod detector;
pub mod error;
pub mod graph;
pub mod models;
mod ops;
pub mod proto;
pub mod run;
pub mod tensor;
pub mod yolo;

pub use catalog::{KNOWN_DETECTORS, KnownDetector, known_detector};
pub use detector::Detector;
pub use error::DetectError;
pub use models::{DetectionModels, ModelError, ModelSpec};
pub use tensor::Tensor;
pub use yolo::{Detection, Filter, Image};
