//! The detection models `easel models pull` knows by name: Ultralytics' COCO-trained
//! nano detectors as single-file ONNX exports on the Hugging Face hub, with the COCO
//! class names for an export that lacks its `names` metadata.

/// A model known by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownDetector {
    /// The name used on the command line and in `detect`'s `model`.
    pub name: &'static str,
    /// The hub repository it is pulled from unless `[detection] hub_repo` or `--repo`
    /// says otherwise.
    pub repo: &'static str,
    /// The ONNX file's path in the repository.
    pub file: &'static str,
    /// What it is.
    pub description: &'static str,
    /// Its class names, by index, for an export without `names` metadata.
    pub labels: &'static [&'static str],
}

/// The hub repository holding both nano exports (the Ultralytics detection exports
/// Unity's inference-engine YOLO sample uses).
pub const DEFAULT_HUB_REPO: &str = "unity/inference-engine-yolo";

/// Every detection model known by name.
pub const KNOWN_DETECTORS: &[KnownDetector] = &[
    KnownDetector {
        name: "yolo11n",
        repo: DEFAULT_HUB_REPO,
        file: "yolo11n.onnx",
        description: "YOLO11 nano, 80 COCO classes (people, vehicles, animals, objects)",
        labels: &COCO_CLASSES,
    },
    KnownDetector {
        name: "yolov8n",
        repo: DEFAULT_HUB_REPO,
        file: "yolov8n.onnx",
        description: "YOLOv8 nano, 80 COCO classes",
        labels: &COCO_CLASSES,
    },
];

/// The model known as `name`.
pub fn known_detector(name: &str) -> Option<&'static KnownDetector> {
    KNOWN_DETECTORS.iter().find(|m| m.name == name)
}

/// The 80 COCO classes in the order Ultralytics' detectors score them.
pub const COCO_CLASSES: [&str; 80] = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
];
