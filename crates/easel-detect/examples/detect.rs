//! Detects objects in images and times the network: `detect MODEL IMAGE… [--side N]
//! [--runs N] [--dump DIR]`. Prints one JSON line per image with the detections and the
//! median network time over `--runs` runs (after one warm-up); `--dump` writes each
//! letterboxed input and the raw head output as little-endian f32 files, for comparing
//! with another runtime on identical inputs.

use std::path::PathBuf;
use std::time::Instant;

use easel_detect::yolo::letterbox;
use easel_detect::{Detector, Filter, Image};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let model = PathBuf::from(args.next().ok_or("usage: detect MODEL IMAGE…")?);
    let (mut images, mut side, mut runs, mut dump, mut conf) =
        (Vec::new(), None, 5usize, None, 0.25f32);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--side" => side = Some(args.next().ok_or("--side N")?.parse()?),
            "--runs" => runs = args.next().ok_or("--runs N")?.parse()?,
            "--dump" => dump = Some(PathBuf::from(args.next().ok_or("--dump DIR")?)),
            "--conf" => conf = args.next().ok_or("--conf X")?.parse()?,
            _ => images.push(PathBuf::from(a)),
        }
    }
    let started = Instant::now();
    let bytes = std::fs::read(&model)?;
    let detector = Detector::from_bytes(&bytes, None, side)?;
    eprintln!(
        "loaded in {:?}, input {:?}",
        started.elapsed(),
        detector.input_size()
    );
    let filter = Filter {
        min_confidence: conf,
        ..Filter::default()
    };
    for path in images {
        // Easel's own decoder: every format it takes, EXIF orientation applied.
        let bytes = std::fs::read(&path)?;
        let (_, rgba) = easel_image::decode_rgba(&bytes, &easel_image::Limits::default())?;
        let img = Image {
            width: rgba.width(),
            height: rgba.height(),
            channels: 4,
            pixels: rgba.as_raw(),
        };
        let t = Instant::now();
        let found = detector.detect(&img, &filter)?;
        let first_ms = t.elapsed().as_secs_f64() * 1e3;
        let (input, _) = letterbox(&img, detector.input_size());
        let mut times = Vec::with_capacity(runs);
        let mut out = None;
        for _ in 0..runs.max(1) {
            let t = Instant::now();
            out = Some(detector.run(input.clone())?);
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        if std::env::var_os("EASEL_DETECT_PROFILE").is_some() {
            let (_, nodes) = detector.run_timed(input.clone())?;
            let mut by_kind: std::collections::BTreeMap<String, (f64, usize)> = Default::default();
            for n in &nodes {
                let entry = by_kind.entry(n.what.clone()).or_default();
                entry.0 += n.seconds * 1e3;
                entry.1 += 1;
            }
            let mut rows: Vec<_> = by_kind.into_iter().collect();
            rows.sort_by(|a, b| b.1.0.total_cmp(&a.1.0));
            let total: f64 = rows.iter().map(|r| r.1.0).sum();
            eprintln!("{total:8.2} ms  in all");
            for (what, (ms, count)) in &rows {
                eprintln!("{ms:8.2} ms  {count:2}×  {what}");
            }
        }
        if let (Some(dir), Some(out)) = (&dump, &out) {
            let stem = path
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
            std::fs::write(
                dir.join(format!("{stem}.input.f32")),
                bytes(input.floats("input")?),
            )?;
            std::fs::write(
                dir.join(format!("{stem}.output.f32")),
                bytes(out.floats("output")?),
            )?;
        }
        let detections: Vec<serde_json::Value> = found
            .iter()
            .map(|d| serde_json::json!({"label": d.label, "class": d.class, "confidence": d.confidence, "bbox": d.bbox}))
            .collect();
        println!(
            "{}",
            serde_json::json!({"image": path, "detect_ms": first_ms, "network_ms": times[times.len() / 2], "detections": detections})
        );
    }
    Ok(())
}
