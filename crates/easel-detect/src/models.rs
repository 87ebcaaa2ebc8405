//! The detection models a process can use, by name: files registered in configuration
//! (`[detection.models.NAME]`) and models pulled into the models directory
//! (`<models_dir>/<name>.onnx`, labels beside it as `<name>.labels.txt`). Each is
//! loaded on first use and kept; the registry runs the pipeline engine's `detect`
//! operation and records detections per class and detector latency.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use easel_image::{
    DEFAULT_MAX_DETECTIONS, DEFAULT_MIN_CONFIDENCE, DetectParams, DetectedObject, ObjectDetector,
};

use crate::Detector;
use crate::error::DetectError;
use crate::yolo::{Filter, Image};

/// A model file registered under a name.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    /// The ONNX file.
    pub path: PathBuf,
    /// A labels file (one class per line) overriding the model's own names.
    pub labels: Option<PathBuf>,
    /// The input side for a model whose input size is dynamic.
    pub input_size: Option<usize>,
}

/// Why a model cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// No model has that name.
    #[error("no detection model is named {name:?}: {hint}")]
    Unknown {
        /// The name asked for.
        name: String,
        /// What to run or configure.
        hint: String,
    },
    /// The model's file is there but cannot be used.
    #[error("the detection model {name:?} cannot be loaded: {source}")]
    Broken {
        /// The model.
        name: String,
        /// Why.
        source: DetectError,
    },
}

/// The registry.
#[derive(Debug, Default)]
pub struct DetectionModels {
    configured: BTreeMap<String, ModelSpec>,
    dir: Option<PathBuf>,
    default: Option<String>,
    loaded: Mutex<HashMap<String, Arc<Detector>>>,
}

impl DetectionModels {
    /// Models from `configured` and those pulled into `dir`; `default` names the one
    /// used when a `detect` operation names none (else the only one there is, else
    /// `yolo11n`).
    pub fn new(
        configured: BTreeMap<String, ModelSpec>,
        dir: Option<PathBuf>,
        default: Option<String>,
    ) -> DetectionModels {
        DetectionModels {
            configured,
            dir,
            default,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// The name a `detect` without `model` uses.
    pub fn default_name(&self) -> String {
        if let Some(name) = &self.default {
            return name.clone();
        }
        let available = self.available();
        match available.as_slice() {
            [only] => only.0.clone(),
            _ => "yolo11n".to_string(),
        }
    }

    /// Every known model with its file: configured ones, then pulled ones.
    pub fn available(&self) -> Vec<(String, PathBuf)> {
        let mut all: Vec<(String, PathBuf)> = self
            .configured
            .iter()
            .map(|(name, spec)| (name.clone(), spec.path.clone()))
            .collect();
        if let Some(dir) = &self.dir
            && let Ok(entries) = std::fs::read_dir(dir)
        {
            let mut pulled: Vec<(String, PathBuf)> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
                .filter_map(|p| Some((p.file_stem()?.to_str()?.to_string(), p)))
                .filter(|(name, _)| !self.configured.contains_key(name))
                .collect();
            pulled.sort();
            all.extend(pulled);
        }
        all
    }

    /// Whether `name` (or the default) resolves to a file, without loading it.
    pub fn has(&self, name: Option<&str>) -> Result<(), ModelError> {
        self.spec(name).map(|_| ())
    }

    fn spec(&self, name: Option<&str>) -> Result<(String, ModelSpec), ModelError> {
        let name = name.map_or_else(|| self.default_name(), str::to_string);
        if let Some(spec) = self.configured.get(&name) {
            return Ok((name, spec.clone()));
        }
        let pulled = self.dir.as_ref().map(|d| d.join(format!("{name}.onnx")));
        match pulled {
            Some(path) if path.is_file() && safe_name(&name) => {
                let labels = path.with_extension("labels.txt");
                Ok((
                    name,
                    ModelSpec {
                        labels: labels.is_file().then_some(labels),
                        path,
                        input_size: None,
                    },
                ))
            }
            _ => Err(ModelError::Unknown {
                hint: format!(
                    "run `easel models pull {name}` or register a file under \
                     [detection.models.{name}] path = \"…/model.onnx\""
                ),
                name,
            }),
        }
    }

    /// The loaded model `name` (or the default), with the name it resolved to.
    pub fn get(&self, name: Option<&str>) -> Result<(String, Arc<Detector>), ModelError> {
        let (name, spec) = self.spec(name)?;
        if let Some(d) = self.loaded.lock().ok().and_then(|l| l.get(&name).cloned()) {
            return Ok((name, d));
        }
        let labels = spec.labels.as_deref();
        let detector = Detector::open(&spec.path, labels, spec.input_size)
            .map(Arc::new)
            .map_err(|source| ModelError::Broken {
                name: name.clone(),
                source,
            })?;
        if let Ok(mut loaded) = self.loaded.lock() {
            loaded.insert(name.clone(), detector.clone());
        }
        Ok((name, detector))
    }
}

/// A pulled model's name must not leave the models directory.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.')
        && Path::new(name).components().count() == 1
}

impl ObjectDetector for DetectionModels {
    fn check(&self, model: Option<&str>) -> Result<(), String> {
        self.has(model).map_err(|e| e.to_string())
    }

    fn class_names(&self, model: Option<&str>) -> Option<Vec<String>> {
        Some(self.get(model).ok()?.1.names().to_vec())
    }

    fn input_side(&self, model: Option<&str>) -> Option<u32> {
        let (h, w) = self.get(model).ok()?.1.input_size();
        u32::try_from(h.max(w)).ok()
    }

    fn detect(
        &self,
        pixels: &[u8],
        (width, height, channels): (u32, u32, usize),
        params: &DetectParams,
    ) -> Result<Vec<DetectedObject>, String> {
        let (model, detector) = self
            .get(params.model.as_deref())
            .map_err(|e| e.to_string())?;
        let classes = match &params.classes {
            Some(wanted) => {
                let names = detector.names();
                let mut indices = Vec::with_capacity(wanted.len());
                for class in wanted {
                    let index = names.iter().position(|n| n == class).ok_or_else(|| {
                        format!(
                            "the model {model:?} has no class {class:?}; it knows {}",
                            preview(names)
                        )
                    })?;
                    indices.push(index);
                }
                Some(indices)
            }
            None => None,
        };
        let filter = Filter {
            min_confidence: params
                .min_confidence
                .map_or(DEFAULT_MIN_CONFIDENCE, |c| c as f32),
            max_detections: params.max_detections.unwrap_or(DEFAULT_MAX_DETECTIONS) as usize,
            classes,
            ..Filter::default()
        };
        let image = Image {
            width,
            height,
            channels,
            pixels,
        };
        let started = Instant::now();
        let found = detector
            .detect(&image, &filter)
            .map_err(|e| e.to_string())?;
        metrics::histogram!("easel_detect_seconds", "model" => model.clone())
            .record(started.elapsed().as_secs_f64());
        for d in &found {
            metrics::counter!("easel_detections_total", "model" => model.clone(), "class" => d.label.clone())
                .increment(1);
        }
        Ok(found
            .into_iter()
            .map(|d| DetectedObject {
                label: d.label,
                confidence: d.confidence,
                bbox: d.bbox,
            })
            .collect())
    }
}

/// The first few names, for messages.
fn preview(names: &[String]) -> String {
    let mut text = names
        .iter()
        .take(12)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > 12 {
        text.push_str(&format!(" … ({} in all)", names.len()));
    }
    text
}
