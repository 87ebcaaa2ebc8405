//! easel-detect against onnxruntime on real models: nudenet's YOLOv8 detector (from
//! its PyPI wheel) on scikit-image's photos at 320 and 640, and a YOLO-shaped model
//! with the 80-class COCO head. The same letterboxed input goes to both runtimes; the
//! raw head outputs must agree (boxes within 1 px, scores within 1e-3), and so must the
//! detections after NMS (same classes, boxes within 1 px, scores within 1e-3). Also:
//! the astronaut's face is found where nudenet's own pipeline finds it, and hostile
//! model files are refused with clear errors. Needs `scripts/detect-fixtures`
//! (`EASEL_TEST_DETECT`, default target/detect-fixtures).

use std::path::{Path, PathBuf};
use std::process::Command;

use easel_detect::yolo::{decode, letterbox};
use easel_detect::{DetectError, Detector, Filter, Image};
use serde_json::Value;

fn fixtures() -> PathBuf {
    let dir = std::env::var_os("EASEL_TEST_DETECT").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/detect-fixtures"),
        PathBuf::from,
    );
    assert!(
        dir.join("python").exists(),
        "{} lacks the detection fixtures: run scripts/detect-fixtures",
        dir.display()
    );
    dir
}

fn rgb(path: &Path) -> image::RgbImage {
    image::open(path).unwrap().to_rgb8()
}

fn view(img: &image::RgbImage) -> Image<'_> {
    Image {
        width: img.width(),
        height: img.height(),
        channels: 3,
        pixels: img.as_raw(),
    }
}

fn python(script: &str, args: &[&str]) -> Value {
    let dir = fixtures();
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reference")
        .join(script);
    let out = Command::new(dir.join("python"))
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn floats(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Runs `model` on `photo` letterboxed to `side` in both runtimes and compares.
fn parity(model: &str, photo: &str, side: Option<usize>, filter: &Filter) -> usize {
    let dir = fixtures();
    let detector = Detector::open(&dir.join(model), None, side).unwrap();
    let (h, w) = detector.input_size();
    let img = rgb(&dir.join(photo));
    let (input, _) = letterbox(&view(&img), (h, w));
    let tmp = tempfile::tempdir().unwrap();
    let (input_path, output_path) = (tmp.path().join("in.f32"), tmp.path().join("out.f32"));
    let bytes: Vec<u8> = input
        .floats("input")
        .unwrap()
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    std::fs::write(&input_path, bytes).unwrap();
    let reference = python(
        "ort_reference.py",
        &[
            dir.join(model).to_str().unwrap(),
            input_path.to_str().unwrap(),
            &h.to_string(),
            &w.to_string(),
            output_path.to_str().unwrap(),
            &filter.min_confidence.to_string(),
            &filter.iou.to_string(),
        ],
    );
    let ours = detector.run(input).unwrap();
    let shape: Vec<usize> = serde_json::from_value(reference["shape"].clone()).unwrap();
    assert_eq!(ours.shape, shape, "{model}: output shape");
    let (rows, anchors) = (shape[1], shape[2]);
    let theirs = floats(&output_path);
    let ours = ours.floats("output").unwrap();
    for r in 0..rows {
        let limit = if r < 4 { 1.0 } else { 1e-3 };
        let worst = (0..anchors)
            .map(|a| (ours[r * anchors + a] - theirs[r * anchors + a]).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst <= limit,
            "{model} on {photo}: row {r} differs by {worst}"
        );
    }
    let found = decode(ours, anchors, detector.names(), filter);
    let expected = reference["detections"].as_array().unwrap();
    assert_eq!(
        found.len(),
        expected.len(),
        "{model} on {photo}: {found:?} vs {expected:?}"
    );
    for (d, e) in found.iter().zip(expected) {
        assert_eq!(
            d.class as u64,
            e["class"].as_u64().unwrap(),
            "{model}: class"
        );
        let conf = e["confidence"].as_f64().unwrap() as f32;
        assert!(
            (d.confidence - conf).abs() <= 1e-3,
            "{model}: score {} vs {conf}",
            d.confidence
        );
        for (a, b) in d.bbox.iter().zip(e["bbox"].as_array().unwrap()) {
            let b = b.as_f64().unwrap() as f32;
            assert!(
                (a - b).abs() <= 1.0,
                "{model}: box {:?} vs {}",
                d.bbox,
                e["bbox"]
            );
        }
    }
    found.len()
}

fn low_threshold() -> Filter {
    Filter {
        min_confidence: 0.05,
        iou: 0.45,
        ..Filter::default()
    }
}

#[test]
fn nudenet_matches_onnxruntime_at_its_own_size_and_at_640() {
    let mut total = 0;
    for photo in ["astronaut.png", "coffee.png", "chelsea.png"] {
        total += parity("nudenet-320n.onnx", photo, None, &low_threshold());
    }
    total += parity(
        "nudenet-320n.onnx",
        "astronaut.png",
        Some(640),
        &low_threshold(),
    );
    assert!(
        total >= 2,
        "the photos must give detections to compare, got {total}"
    );
}

#[test]
fn the_coco_head_with_attention_and_depthwise_layers_matches_onnxruntime() {
    let detector = Detector::open(&fixtures().join("yolo-coco-tiny.onnx"), None, None).unwrap();
    assert_eq!(detector.names().len(), 80);
    assert_eq!(
        (detector.names()[0].as_str(), detector.names()[79].as_str()),
        ("person", "toothbrush")
    );
    assert_eq!(detector.input_size(), (256, 256));
    let found = parity(
        "yolo-coco-tiny.onnx",
        "chelsea.png",
        None,
        &Filter::default(),
    );
    assert!(
        found >= 3,
        "random weights give a few detections to compare, got {found}"
    );
}

#[test]
fn the_astronauts_face_is_found_where_nudenet_finds_it() {
    let dir = fixtures();
    let detector = Detector::open(&dir.join("nudenet-320n.onnx"), None, None).unwrap();
    let img = rgb(&dir.join("astronaut.png"));
    let found = detector.detect(&view(&img), &Filter::default()).unwrap();
    let face = found
        .iter()
        .find(|d| d.label == "FACE_FEMALE")
        .expect("a female face");
    let reference = python(
        "nudenet_reference.py",
        &[dir.join("astronaut.png").to_str().unwrap()],
    );
    let theirs = reference
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["label"] == "FACE_FEMALE")
        .expect("nudenet finds the face");
    let bbox: Vec<f32> = serde_json::from_value(theirs["bbox"].clone()).unwrap();
    let overlap = easel_detect::yolo::overlap(&face.bbox, &[bbox[0], bbox[1], bbox[2], bbox[3]]);
    // nudenet pads to a square at the bottom right before resizing; Easel centres the
    // photo (Ultralytics' letterbox), so the boxes agree closely, not exactly.
    assert!(
        overlap >= 0.85,
        "IoU {overlap}: {:?} vs {bbox:?}",
        face.bbox
    );
    assert!(face.confidence > 0.5, "{face:?}");
}

#[test]
fn hostile_models_are_refused_with_clear_errors() {
    let dir = fixtures();
    let real = std::fs::read(dir.join("nudenet-320n.onnx")).unwrap();
    let err = Detector::from_bytes(&real[..real.len() / 2], None, None).unwrap_err();
    assert!(
        matches!(err, DetectError::InvalidModel(_)),
        "truncated: {err}"
    );
    let err = Detector::from_bytes(b"\x08\x07\x12\x00not a model at all \xff\xfe", None, None)
        .unwrap_err();
    assert_eq!(err.code(), "invalid-model", "{err}");
    let err = Detector::open(&dir.join("unsupported-op.onnx"), None, None).unwrap_err();
    assert_eq!(err.code(), "unsupported-operator");
    assert!(err.to_string().contains("Einsum"), "{err}");
    let err = Detector::open(&dir.join("not-a-detector.onnx"), None, None).unwrap_err();
    assert_eq!(err.code(), "not-a-detector");
    assert!(err.to_string().contains("(1, 4 + classes, boxes)"), "{err}");
    let err = Detector::open(&dir.join("missing.onnx"), None, None).unwrap_err();
    assert_eq!(err.code(), "model-unreadable", "{err}");
    // A labels file naming the wrong number of classes.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("labels.txt"), "a\nb\n").unwrap();
    let err = Detector::open(
        &dir.join("nudenet-320n.onnx"),
        Some(&tmp.path().join("labels.txt")),
        None,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("scores 18 classes but it names 2"),
        "{err}"
    );
}
