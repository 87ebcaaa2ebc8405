//! `[detection]`: the object detection models `detect` operations use — files
//! registered by name, the directory `easel models pull` fills, and the default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use easel_detect::{DetectionModels, ModelSpec};
use serde::{Deserialize, Serialize};

/// `[detection]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectionConfig {
    /// Where pulled models live (`<name>.onnx`, labels as `<name>.labels.txt`).
    /// Default: `<data_dir>/detection-models` (beside, not inside, the diffusion
    /// models directory, whose every subdirectory is a diffusion model).
    pub models_dir: Option<PathBuf>,
    /// The model a `detect` operation without `model` uses. Default: the only model
    /// there is, else `yolo11n`.
    pub default_model: Option<String>,
    /// The hub repository `easel models pull` fetches the known detectors (`yolo11n`,
    /// `yolov8n`) from, `owner/name` on `HF_ENDPOINT` (default: the catalogue's).
    pub hub_repo: Option<String>,
    /// Model files by name: `[detection.models.NAME] path = "…/model.onnx"`.
    pub models: BTreeMap<String, ModelEntry>,
}

/// `[detection.models.NAME]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// The ONNX file (a YOLOv8 or YOLO11 detection export).
    pub path: PathBuf,
    /// A labels file, one class name per line, overriding the model's own `names`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<PathBuf>,
    /// The input side for an export with a dynamic input size (default: its `imgsz`
    /// metadata, else 640).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_size: Option<usize>,
}

impl DetectionConfig {
    /// The models directory for `data_dir`.
    pub fn models_dir(&self, data_dir: &Path) -> PathBuf {
        self.models_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("detection-models"))
    }

    /// The registry these settings describe.
    pub fn build(&self, data_dir: &Path) -> Arc<DetectionModels> {
        let configured = self
            .models
            .iter()
            .map(|(name, m)| {
                let spec = ModelSpec {
                    path: m.path.clone(),
                    labels: m.labels.clone(),
                    input_size: m.input_size,
                };
                (name.clone(), spec)
            })
            .collect();
        Arc::new(DetectionModels::new(
            configured,
            Some(self.models_dir(data_dir)),
            self.default_model.clone(),
        ))
    }
}
