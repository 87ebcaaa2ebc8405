//! Static pipeline checks: everything that can be judged without an image, so that a
//! job with a bad pipeline is refused at submission (HTTP 400) rather than failing in
//! a worker.

use crate::error::ImageError;
use crate::format::{Format, sniff};
use crate::limits::Limits;
use crate::objects::DetectParams;
use crate::params::{Gravity, ResizeMode};
use crate::pipeline::{ImageWatermark, Op, OutputOptions, Pipeline, TextWatermark};
use crate::probe::probe;

/// Longest accepted watermark text, in characters.
pub(crate) const MAX_TEXT_CHARS: usize = 256;
/// Largest accepted watermark PNG side, in pixels.
pub(crate) const MAX_MARK_SIDE: u32 = 4096;

impl Pipeline {
    /// Checks every operation's parameters and the output options against `limits`.
    /// The error names the operation (`ops[1] resize`, `output`) and the reason.
    pub fn validate(&self, limits: &Limits) -> Result<(), ImageError> {
        for (i, op) in self.ops.iter().enumerate() {
            let name = format!("ops[{i}] {}", op.name());
            check_op(op, limits).map_err(|reason| ImageError::invalid(name, reason))?;
        }
        check_objects(&self.ops).map_err(|(i, reason)| {
            ImageError::invalid(format!("ops[{i}] {}", self.ops[i].name()), reason)
        })?;
        check_output(&self.output).map_err(|reason| ImageError::invalid("output", reason))
    }
}

fn check_op(op: &Op, limits: &Limits) -> Result<(), String> {
    match op {
        Op::Resize {
            width,
            height,
            mode,
            ..
        } => check_resize(*width, *height, *mode, limits),
        Op::Crop {
            width,
            height,
            x,
            y,
            ..
        } => {
            check_side("width", *width, limits.max_output_width)?;
            check_side("height", *height, limits.max_output_height)?;
            if x.is_some() != y.is_some() {
                return Err("give both x and y, or neither (then gravity places the crop)".into());
            }
            Ok(())
        }
        Op::Rotate { degrees } => match degrees {
            90 | 180 | 270 => Ok(()),
            d => Err(format!("degrees must be 90, 180 or 270 (got {d})")),
        },
        Op::Flip | Op::Flop => Ok(()),
        Op::Blur { sigma, .. } => check_range("sigma", *sigma, 0.0, 100.0, false),
        Op::Sharpen { sigma, amount } => {
            check_range("sigma", *sigma, 0.0, 10.0, false)?;
            check_range("amount", *amount, 0.0, 10.0, false)
        }
        Op::WatermarkText(w) => check_text(w),
        Op::WatermarkImage(w) => check_image_mark(w, limits).map(|_| ()),
        Op::Detect(d) => check_detect(d),
        Op::Annotate(a) => check_range("thickness", a.thickness, 0.0, 0.05, false),
    }
}

fn check_detect(d: &DetectParams) -> Result<(), String> {
    if let Some(c) = d.min_confidence {
        check_range("minConfidence", c, 0.0, 1.0, false)?;
    }
    if let Some(m) = d.max_detections
        && !(1..=1000).contains(&m)
    {
        return Err(format!(
            "maxDetections must be between 1 and 1000 (got {m})"
        ));
    }
    if d.model
        .as_deref()
        .is_some_and(|m| m.is_empty() || m.len() > 128)
    {
        return Err("model must be a name of 1 to 128 characters".into());
    }
    if d.classes.as_ref().is_some_and(|c| c.len() > 1000) {
        return Err("classes may name at most 1000 classes".into());
    }
    if let Some(weights) = &d.weights {
        for (class, w) in weights {
            check_range(&format!("weights.{class}"), *w, 0.0, 1000.0, true)?;
        }
    }
    Ok(())
}

/// Checks that need the whole list: one `detect` at most, and one before any operation
/// that uses its objects.
pub(crate) fn check_objects(ops: &[Op]) -> Result<(), (usize, String)> {
    let detects: Vec<usize> = (0..ops.len())
        .filter(|&i| matches!(ops[i], Op::Detect(_)))
        .collect();
    if let Some(&second) = detects.get(1) {
        return Err((second, "a pipeline may detect objects only once".into()));
    }
    let optional = detects
        .first()
        .is_some_and(|&i| matches!(&ops[i], Op::Detect(p) if p.if_available));
    if let Some(i) = ops.iter().position(Op::uses_objects) {
        if detects.is_empty() {
            return Err((
                i,
                "this needs detected objects: add a {\"op\": \"detect\"} operation".into(),
            ));
        }
        if optional {
            return Err((
                i,
                "this needs detected objects, so the `detect` may not be `ifAvailable`".into(),
            ));
        }
    }
    Ok(())
}

fn check_side(what: &str, v: u32, max: u32) -> Result<(), String> {
    if v == 0 || v > max {
        return Err(format!("{what} must be between 1 and {max} (got {v})"));
    }
    Ok(())
}

/// `lo < v <= hi` (or `lo <= v` when `inclusive_lo`), and finite.
fn check_range(what: &str, v: f64, lo: f64, hi: f64, inclusive_lo: bool) -> Result<(), String> {
    let low_ok = if inclusive_lo { v >= lo } else { v > lo };
    if !v.is_finite() || !low_ok || v > hi {
        let open = if inclusive_lo { '[' } else { '(' };
        return Err(format!("{what} must be in {open}{lo}, {hi}] (got {v})"));
    }
    Ok(())
}

fn check_resize(
    width: Option<u32>,
    height: Option<u32>,
    mode: ResizeMode,
    limits: &Limits,
) -> Result<(), String> {
    if let Some(w) = width {
        check_side("width", w, limits.max_output_width)?;
    }
    if let Some(h) = height {
        check_side("height", h, limits.max_output_height)?;
    }
    match (mode, width, height) {
        (_, None, None) => Err("give width, height or both".into()),
        (ResizeMode::Fill | ResizeMode::Exact, None, _)
        | (ResizeMode::Fill | ResizeMode::Exact, _, None) => {
            Err(format!("mode {mode:?} needs both width and height").to_lowercase())
        }
        _ => Ok(()),
    }
}

/// A watermark's placement, checked on the values as written (before they are
/// narrowed for drawing).
fn check_placement(opacity: f64, margin: f64, gravity: Gravity) -> Result<(), String> {
    check_range("opacity", opacity, 0.0, 1.0, true)?;
    check_range("margin", margin, 0.0, 0.5, true)?;
    if matches!(gravity, Gravity::Smart | Gravity::Objects) {
        return Err(format!(
            "gravity {:?} applies to crops only; use a compass point or center",
            gravity
        )
        .to_lowercase());
    }
    Ok(())
}

fn check_text(w: &TextWatermark) -> Result<(), String> {
    let chars = w.text.chars().count();
    if w.text.trim().is_empty() {
        return Err("text must not be empty".into());
    }
    if chars > MAX_TEXT_CHARS {
        return Err(format!(
            "text is {chars} characters, at most {MAX_TEXT_CHARS} allowed"
        ));
    }
    if w.text.chars().any(char::is_control) {
        return Err("text must be one line without control characters".into());
    }
    check_range("size", w.size, 0.0, 1.0, false)?;
    check_placement(w.opacity, w.margin, w.gravity)
}

/// Also used by the watermark operation itself, which needs the decoded bytes.
pub(crate) fn check_image_mark(w: &ImageWatermark, limits: &Limits) -> Result<Vec<u8>, String> {
    check_range("scale", w.scale, 0.0, 1.0, false)?;
    check_placement(w.opacity, w.margin, w.gravity)?;
    let bytes = decode_base64(&w.png).ok_or("png is not valid base64")?;
    if sniff(&bytes) != Some(Format::Png) {
        return Err("png must contain a PNG file".into());
    }
    let info = probe(&bytes).map_err(|e| format!("png: {e}"))?;
    let max = MAX_MARK_SIDE.min(limits.max_output_width.max(limits.max_output_height));
    if info.width > max || info.height > max {
        return Err(format!(
            "png is {}x{}, at most {max}x{max} allowed",
            info.width, info.height
        ));
    }
    Ok(bytes)
}

fn check_output(o: &OutputOptions) -> Result<(), String> {
    if let Some(q) = o.quality.filter(|q| !(1..=100).contains(q)) {
        return Err(format!("quality must be between 1 and 100 (got {q})"));
    }
    if let Some(c) = o.compression.filter(|c| *c > 9) {
        return Err(format!("compression must be between 0 and 9 (got {c})"));
    }
    if let Some(s) = o.speed.filter(|s| *s > 9) {
        return Err(format!("speed must be between 0 and 9 (got {s})"));
    }
    let explicit = o.format;
    if let Some(f) = explicit.filter(|f| !f.can_encode()) {
        return Err(format!(
            "{f} is read only; write jpeg, png, webp, gif or avif"
        ));
    }
    if o.progressive && explicit.is_some_and(|f| f != Format::Jpeg) {
        return Err("progressive applies to jpeg only".into());
    }
    if o.lossless && explicit != Some(Format::Webp) {
        return Err("lossless needs format webp".into());
    }
    if o.compression.is_some() && explicit.is_some_and(|f| f != Format::Png) {
        return Err("compression applies to png only".into());
    }
    if o.speed.is_some() && explicit != Some(Format::Avif) {
        return Err("speed needs format avif".into());
    }
    Ok(())
}

/// Standard or URL-safe base64, padding optional, whitespace ignored.
pub(crate) fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace()) {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}
