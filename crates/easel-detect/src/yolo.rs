//! The YOLO family's image handling around the network: letterboxing an image into the
//! model's input (aspect kept, bilinear, grey 114 borders, as Ultralytics' `LetterBox`),
//! decoding the `(1, 4 + classes, anchors)` head (centre, size, per-class scores), NMS per
//! class, and mapping boxes back to the source image's pixels.

use rayon::prelude::*;

use crate::tensor::Tensor;

/// A source image: 8-bit RGB or RGBA pixels, row-major, no padding between rows.
#[derive(Debug, Clone, Copy)]
pub struct Image<'a> {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// 3 (RGB) or 4 (RGBA; alpha is ignored).
    pub channels: usize,
    /// `width · height · channels` bytes.
    pub pixels: &'a [u8],
}

/// Where the source image sits inside the model input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    /// Source pixels per input pixel is `1 / scale`.
    pub scale: f32,
    /// Left border in input pixels.
    pub left: f32,
    /// Top border in input pixels.
    pub top: f32,
    /// The source's size.
    pub source: (u32, u32),
}

/// The grey Ultralytics pads with, as a fraction.
const PAD: f32 = 114.0 / 255.0;

/// Letterboxes `image` into a `(1, 3, height, width)` tensor of values in [0, 1].
pub fn letterbox(image: &Image, (height, width): (usize, usize)) -> (Tensor, Letterbox) {
    let (sw, sh) = (image.width as f32, image.height as f32);
    let scale = (height as f32 / sh).min(width as f32 / sw);
    let nw = ((sw * scale).round() as usize).clamp(1, width);
    let nh = ((sh * scale).round() as usize).clamp(1, height);
    let left = ((width - nw) as f32 / 2.0 - 0.1).round().max(0.0) as usize;
    let top = ((height - nh) as f32 / 2.0 - 0.1).round().max(0.0) as usize;
    let plane = height * width;
    let mut data = vec![PAD; 3 * plane];
    // Bilinear with pixel centres aligned (OpenCV's INTER_LINEAR).
    let axis = |out: usize, len: u32| -> Vec<(usize, usize, f32)> {
        let ratio = len as f32 / out as f32;
        (0..out)
            .map(|o| {
                let x = ((o as f32 + 0.5) * ratio - 0.5).max(0.0);
                let i = (x.floor() as usize).min(len as usize - 1);
                let j = (i + 1).min(len as usize - 1);
                (i, j, x - i as f32)
            })
            .collect()
    };
    let xs = axis(nw, image.width);
    let ys = axis(nh, image.height);
    let stride = image.width as usize * image.channels;
    let ch = image.channels;
    let (r_plane, rest) = data.split_at_mut(plane);
    let (g_plane, b_plane) = rest.split_at_mut(plane);
    r_plane
        .par_chunks_mut(width)
        .zip(g_plane.par_chunks_mut(width))
        .zip(b_plane.par_chunks_mut(width))
        .enumerate()
        .filter(|(y, _)| *y >= top && *y < top + nh)
        .for_each(|(y, ((r, g), b))| {
            let (y0, y1, fy) = ys[y - top];
            let row0 = &image.pixels[y0 * stride..][..stride];
            let row1 = &image.pixels[y1 * stride..][..stride];
            for (x, &(x0, x1, fx)) in xs.iter().enumerate() {
                let sample = |c: usize| {
                    let p = |row: &[u8], x: usize| f32::from(row[x * ch + c]);
                    let top = p(row0, x0) + (p(row0, x1) - p(row0, x0)) * fx;
                    let bottom = p(row1, x0) + (p(row1, x1) - p(row1, x0)) * fx;
                    (top + (bottom - top) * fy) / 255.0
                };
                r[left + x] = sample(0);
                g[left + x] = sample(1);
                b[left + x] = sample(2);
            }
        });
    let tensor = Tensor::f32(vec![1, 3, height, width], data);
    let placement = Letterbox {
        scale,
        left: left as f32,
        top: top as f32,
        source: (image.width, image.height),
    };
    (tensor, placement)
}

/// A detected object, in source pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// The class index in the model's names.
    pub class: usize,
    /// The class name.
    pub label: String,
    /// The class score, 0 to 1.
    pub confidence: f32,
    /// `[x1, y1, x2, y2]`.
    pub bbox: [f32; 4],
}

/// Which detections to keep.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// Lowest class score kept.
    pub min_confidence: f32,
    /// Boxes of one class overlapping a higher-scoring one by more than this IoU are
    /// dropped.
    pub iou: f32,
    /// At most this many, highest scores first.
    pub max_detections: usize,
    /// Only these class indices (all when `None`).
    pub classes: Option<Vec<usize>>,
}

impl Default for Filter {
    /// Ultralytics' prediction defaults: confidence 0.25, IoU 0.7, 300 detections.
    fn default() -> Filter {
        Filter {
            min_confidence: 0.25,
            iou: 0.7,
            max_detections: 300,
            classes: None,
        }
    }
}

/// Decodes a `(1, 4 + classes, anchors)` head output into detections in input pixels
/// (before [`to_source`]), after per-class NMS.
pub fn decode(output: &[f32], anchors: usize, names: &[String], filter: &Filter) -> Vec<Detection> {
    let classes = names.len();
    let row = |r: usize| &output[r * anchors..][..anchors];
    let mut candidates: Vec<Detection> = Vec::new();
    for a in 0..anchors {
        let (mut best, mut score) = (0, f32::NEG_INFINITY);
        for c in 0..classes {
            let s = row(4 + c)[a];
            if s > score {
                (best, score) = (c, s);
            }
        }
        // A NaN score is no detection.
        if score.is_nan() || score < filter.min_confidence {
            continue;
        }
        if filter
            .classes
            .as_ref()
            .is_some_and(|keep| !keep.contains(&best))
        {
            continue;
        }
        let (cx, cy, w, h) = (row(0)[a], row(1)[a], row(2)[a], row(3)[a]);
        candidates.push(Detection {
            class: best,
            label: names[best].clone(),
            confidence: score,
            bbox: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0],
        });
    }
    nms(candidates, filter.iou, filter.max_detections)
}

/// Greedy non-maximum suppression within each class, highest score first.
fn nms(mut boxes: Vec<Detection>, iou: f32, max: usize) -> Vec<Detection> {
    boxes.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    let mut kept: Vec<Detection> = Vec::new();
    for candidate in boxes {
        if kept.len() >= max {
            break;
        }
        let suppressed = kept
            .iter()
            .any(|k| k.class == candidate.class && overlap(&k.bbox, &candidate.bbox) > iou);
        if !suppressed {
            kept.push(candidate);
        }
    }
    kept
}

/// Intersection over union of two `[x1, y1, x2, y2]` boxes.
pub fn overlap(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// Maps a box from input pixels to source pixels, clipped to the source.
pub fn to_source(bbox: [f32; 4], placement: &Letterbox) -> [f32; 4] {
    let (w, h) = (placement.source.0 as f32, placement.source.1 as f32);
    let x = |v: f32| ((v - placement.left) / placement.scale).clamp(0.0, w);
    let y = |v: f32| ((v - placement.top) / placement.scale).clamp(0.0, h);
    [x(bbox[0]), y(bbox[1]), x(bbox[2]), y(bbox[3])]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("c{i}")).collect()
    }

    /// A head with `boxes` as (cx, cy, w, h, class, score) over 2 classes.
    fn head(boxes: &[(f32, f32, f32, f32, usize, f32)]) -> Vec<f32> {
        let n = boxes.len();
        let mut out = vec![0.0; 6 * n];
        for (a, &(cx, cy, w, h, c, s)) in boxes.iter().enumerate() {
            for (r, v) in [cx, cy, w, h].into_iter().enumerate() {
                out[r * n + a] = v;
            }
            out[(4 + c) * n + a] = s;
        }
        out
    }

    #[test]
    fn overlapping_boxes_of_one_class_are_suppressed_and_other_classes_kept() {
        let out = head(&[
            (50.0, 50.0, 20.0, 20.0, 0, 0.9),
            (51.0, 50.0, 20.0, 20.0, 0, 0.8),
            (51.0, 50.0, 20.0, 20.0, 1, 0.7),
            (150.0, 50.0, 20.0, 20.0, 0, 0.6),
            (10.0, 10.0, 5.0, 5.0, 0, 0.1),
        ]);
        let found = decode(&out, 5, &names(2), &Filter::default());
        let summary: Vec<(usize, f32)> = found.iter().map(|d| (d.class, d.confidence)).collect();
        assert_eq!(summary, vec![(0, 0.9), (1, 0.7), (0, 0.6)]);
        assert_eq!(found[0].bbox, [40.0, 40.0, 60.0, 60.0]);
    }

    #[test]
    fn class_filter_and_limit_apply() {
        let out = head(&[
            (50.0, 50.0, 20.0, 20.0, 0, 0.9),
            (150.0, 50.0, 20.0, 20.0, 1, 0.8),
            (250.0, 50.0, 20.0, 20.0, 1, 0.7),
        ]);
        let filter = Filter {
            classes: Some(vec![1]),
            max_detections: 1,
            ..Filter::default()
        };
        let found = decode(&out, 3, &names(2), &filter);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].class, found[0].confidence), (1, 0.8));
    }

    #[test]
    fn letterbox_centres_the_image_and_boxes_map_back() {
        // 200×100 into 64×64: scale 0.32, 64×32 content, 16 rows of border above.
        let pixels = vec![200u8; 200 * 100 * 3];
        let image = Image {
            width: 200,
            height: 100,
            channels: 3,
            pixels: &pixels,
        };
        let (tensor, placement) = letterbox(&image, (64, 64));
        assert_eq!(tensor.shape, vec![1, 3, 64, 64]);
        assert_eq!((placement.left, placement.top), (0.0, 16.0));
        let v = tensor.floats("t").unwrap();
        assert!((v[0] - PAD).abs() < 1e-6, "border row");
        assert!((v[20 * 64 + 5] - 200.0 / 255.0).abs() < 1e-6, "content");
        let back = to_source([0.0, 16.0, 64.0, 48.0], &placement);
        assert_eq!(back, [0.0, 0.0, 200.0, 100.0]);
    }
}
