//! Detected objects inside a pipeline: the detector the caller supplies (the engine
//! itself knows no models), the `detect` operation's parameters, the boxes, how each
//! geometric operation moves them, and where `gravity: "objects"` places a crop.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The `detect` operation: which model, which classes, how confident.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DetectParams {
    /// A configured or pulled detection model's name (default: the configured default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Only these class names (all when omitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<String>>,
    /// Lowest confidence kept, (0, 1]. Default 0.25.
    #[serde(
        default,
        alias = "min_confidence",
        skip_serializing_if = "Option::is_none"
    )]
    pub min_confidence: Option<f64>,
    /// At most this many objects, highest confidence first, 1–1000. Default 100.
    #[serde(
        default,
        alias = "max_detections",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_detections: Option<u32>,
    /// Class weights for `gravity: "objects"` (default 1 for every class; 0 ignores a
    /// class).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<BTreeMap<String, f64>>,
    /// Detect only if the model is installed, else run the rest of the pipeline and
    /// report no objects (for presets shipped before any model is pulled). Not allowed
    /// with operations that need the objects.
    #[serde(default, alias = "if_available", skip_serializing_if = "is_false")]
    pub if_available: bool,
}

fn is_false(b: &bool) -> bool {
    !b
}

/// Default of [`DetectParams::min_confidence`].
pub const DEFAULT_MIN_CONFIDENCE: f32 = 0.25;
/// Default of [`DetectParams::max_detections`].
pub const DEFAULT_MAX_DETECTIONS: u32 = 100;

/// One detected object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectedObject {
    /// The class name.
    pub label: String,
    /// The model's confidence, 0 to 1.
    pub confidence: f32,
    /// `[x1, y1, x2, y2]` in pixels.
    pub bbox: [f32; 4],
}

/// Runs a detection model; supplied by the caller of [`crate::process_with`].
pub trait ObjectDetector: Send + Sync {
    /// Detects objects in an 8-bit RGB or RGBA image whose `size` is `(width, height,
    /// channels)`, returning boxes in its pixels. An `Err` is a message for the user.
    fn detect(
        &self,
        pixels: &[u8],
        size: (u32, u32, usize),
        params: &DetectParams,
    ) -> Result<Vec<DetectedObject>, String>;

    /// Whether `model` (or the default when `None`) is there to run, without loading
    /// it: checked when a job is submitted. An `Err` says what to run or configure.
    fn check(&self, model: Option<&str>) -> Result<(), String>;

    /// `model`'s class names, loading it if need be (`None` when it cannot be loaded:
    /// the job will then fail with the reason).
    fn class_names(&self, model: Option<&str>) -> Option<Vec<String>>;

    /// The longer side of `model`'s input, if known: a pipeline that detects may then
    /// decode a JPEG shrunk down to it (`None`: decode at full size).
    fn input_side(&self, model: Option<&str>) -> Option<u32>;
}

/// The objects found in the source, followed through the operations: `found` stays in
/// source pixels (what a job reports), `current` in the current raster's.
#[derive(Debug, Clone, Default)]
pub(crate) struct Objects {
    pub found: Vec<DetectedObject>,
    pub current: Vec<DetectedObject>,
    /// For each of `current`, its index in `found` (boxes cut away are dropped).
    origin: Vec<usize>,
    pub weights: BTreeMap<String, f32>,
}

impl Objects {
    #[cfg(test)]
    fn new(found: Vec<DetectedObject>, weights: BTreeMap<String, f32>) -> Objects {
        Objects {
            current: found.clone(),
            origin: (0..found.len()).collect(),
            found,
            weights,
        }
    }

    /// Where each found object is in the current raster: its box, or `None` when the
    /// operations cut it away.
    pub(crate) fn placed(&self) -> Vec<Option<[f32; 4]>> {
        let mut placed = vec![None; self.found.len()];
        for (o, &i) in self.current.iter().zip(&self.origin) {
            placed[i] = Some(o.bbox);
        }
        placed
    }

    /// Objects found in a `raster`-sized decode of a `source`-sized image: reported
    /// scaled to the source, followed in the raster.
    pub(crate) fn detected(
        current: Vec<DetectedObject>,
        raster: (u32, u32),
        source: (u32, u32),
        weights: BTreeMap<String, f32>,
    ) -> Objects {
        let sx = source.0 as f32 / raster.0.max(1) as f32;
        let sy = source.1 as f32 / raster.1.max(1) as f32;
        let found: Vec<DetectedObject> = current
            .iter()
            .map(|o| DetectedObject {
                bbox: [
                    o.bbox[0] * sx,
                    o.bbox[1] * sy,
                    o.bbox[2] * sx,
                    o.bbox[3] * sy,
                ],
                ..o.clone()
            })
            .collect();
        Objects {
            origin: (0..found.len()).collect(),
            found,
            current,
            weights,
        }
    }

    /// Moves every box by `f` (a function of one corner), re-sorts the corners and drops
    /// boxes left with no area inside `(width, height)`.
    fn map(&mut self, (width, height): (u32, u32), f: impl Fn(f32, f32) -> (f32, f32)) {
        let (w, h) = (width as f32, height as f32);
        let mut kept = 0;
        for i in 0..self.current.len() {
            let o = &mut self.current[i];
            let (ax, ay) = f(o.bbox[0], o.bbox[1]);
            let (bx, by) = f(o.bbox[2], o.bbox[3]);
            o.bbox = [
                ax.min(bx).clamp(0.0, w),
                ay.min(by).clamp(0.0, h),
                ax.max(bx).clamp(0.0, w),
                ay.max(by).clamp(0.0, h),
            ];
            if o.bbox[2] > o.bbox[0] && o.bbox[3] > o.bbox[1] {
                self.current.swap(kept, i);
                self.origin.swap(kept, i);
                kept += 1;
            }
        }
        self.current.truncate(kept);
        self.origin.truncate(kept);
    }

    /// After scaling `from` to `to`.
    pub(crate) fn scaled(&mut self, from: (u32, u32), to: (u32, u32)) {
        let sx = to.0 as f32 / from.0.max(1) as f32;
        let sy = to.1 as f32 / from.1.max(1) as f32;
        self.map(to, |x, y| (x * sx, y * sy));
    }

    /// After cutting a `size` rectangle at `(x, y)`.
    pub(crate) fn cropped(&mut self, (x, y): (u32, u32), size: (u32, u32)) {
        self.map(size, |bx, by| (bx - x as f32, by - y as f32));
    }

    /// After a quarter-turn clockwise of a `(w, h)` image (`turns` of them).
    pub(crate) fn rotated(&mut self, (w, h): (u32, u32), turns: u32) {
        let (w, h) = (w as f32, h as f32);
        match turns % 4 {
            1 => self.map((h as u32, w as u32), |x, y| (h - y, x)),
            2 => self.map((w as u32, h as u32), |x, y| (w - x, h - y)),
            3 => self.map((h as u32, w as u32), |x, y| (y, w - x)),
            _ => {}
        }
    }

    /// After mirroring top-bottom (`vertical`) or left-right.
    pub(crate) fn mirrored(&mut self, (w, h): (u32, u32), vertical: bool) {
        let (fw, fh) = (w as f32, h as f32);
        if vertical {
            self.map((w, h), |x, y| (x, fh - y));
        } else {
            self.map((w, h), |x, y| (fw - x, y));
        }
    }

    /// The boxes whose class is in `classes` (every box when `classes` is empty).
    pub(crate) fn of_classes<'a>(
        &'a self,
        classes: &'a [String],
    ) -> impl Iterator<Item = &'a DetectedObject> {
        self.current
            .iter()
            .filter(move |o| classes.is_empty() || classes.contains(&o.label))
    }

    /// Top-left corner of a `cw`×`ch` window in a `(w, h)` image that best frames the
    /// objects: centred on the union of the weighted boxes when it fits in the window,
    /// else on their weighted centroid (weight = class weight × confidence × area), and
    /// kept inside the image. `None` when there is nothing to frame.
    pub(crate) fn window(&self, (w, h): (u32, u32), (cw, ch): (u32, u32)) -> Option<(u32, u32)> {
        let weighted: Vec<(&DetectedObject, f32)> = self
            .current
            .iter()
            .map(|o| (o, self.weights.get(&o.label).copied().unwrap_or(1.0)))
            .filter(|(_, weight)| *weight > 0.0)
            .collect();
        if weighted.is_empty() {
            return None;
        }
        let union = weighted
            .iter()
            .fold([f32::MAX, f32::MAX, 0.0f32, 0.0f32], |u, (o, _)| {
                [
                    u[0].min(o.bbox[0]),
                    u[1].min(o.bbox[1]),
                    u[2].max(o.bbox[2]),
                    u[3].max(o.bbox[3]),
                ]
            });
        let centre = if union[2] - union[0] <= cw as f32 && union[3] - union[1] <= ch as f32 {
            ((union[0] + union[2]) / 2.0, (union[1] + union[3]) / 2.0)
        } else {
            let (mut sx, mut sy, mut total) = (0.0f32, 0.0f32, 0.0f32);
            for (o, weight) in &weighted {
                let area = (o.bbox[2] - o.bbox[0]) * (o.bbox[3] - o.bbox[1]);
                let m = weight * o.confidence * area.max(1.0);
                sx += m * (o.bbox[0] + o.bbox[2]) / 2.0;
                sy += m * (o.bbox[1] + o.bbox[3]) / 2.0;
                total += m;
            }
            (sx / total, sy / total)
        };
        let place = |c: f32, inner: u32, outer: u32| -> u32 {
            let start = (c - inner as f32 / 2.0).round().max(0.0) as u32;
            start.min(outer - inner)
        };
        Some((place(centre.0, cw, w), place(centre.1, ch, h)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(label: &str, bbox: [f32; 4]) -> DetectedObject {
        DetectedObject {
            label: label.into(),
            confidence: 0.9,
            bbox,
        }
    }

    #[test]
    fn each_found_object_is_placed_in_the_output_or_known_to_be_cut_away() {
        let mut o = Objects::new(
            vec![
                object("left", [0.0, 0.0, 10.0, 10.0]),
                object("middle", [40.0, 40.0, 60.0, 60.0]),
                object("right", [90.0, 0.0, 100.0, 10.0]),
            ],
            BTreeMap::new(),
        );
        // Cut the 100×100 image to its 50×100 right half: `left` is gone.
        o.cropped((50, 0), (50, 100));
        o.scaled((50, 100), (25, 50));
        assert_eq!(
            o.placed(),
            vec![
                None,
                Some([0.0, 20.0, 5.0, 30.0]),
                Some([20.0, 0.0, 25.0, 5.0])
            ]
        );
        assert_eq!(
            o.found[0].bbox,
            [0.0, 0.0, 10.0, 10.0],
            "found stays in source pixels"
        );
    }

    #[test]
    fn boxes_follow_rotations_mirrors_scales_and_crops() {
        let mut o = Objects::new(vec![object("a", [10.0, 20.0, 30.0, 60.0])], BTreeMap::new());
        // 100×80: a quarter turn makes it 80×100 with x' = h - y, y' = x.
        o.rotated((100, 80), 1);
        assert_eq!(o.current[0].bbox, [20.0, 10.0, 60.0, 30.0]);
        o.rotated((80, 100), 3);
        assert_eq!(o.current[0].bbox, [10.0, 20.0, 30.0, 60.0]);
        o.mirrored((100, 80), false);
        assert_eq!(o.current[0].bbox, [70.0, 20.0, 90.0, 60.0]);
        o.scaled((100, 80), (50, 40));
        assert_eq!(o.current[0].bbox, [35.0, 10.0, 45.0, 30.0]);
        o.cropped((40, 0), (10, 40));
        assert_eq!(o.current[0].bbox, [0.0, 10.0, 5.0, 30.0]);
        o.cropped((6, 0), (4, 40));
        assert!(o.current.is_empty(), "cut away");
        assert_eq!(
            o.found[0].bbox,
            [10.0, 20.0, 30.0, 60.0],
            "source boxes kept"
        );
    }

    #[test]
    fn objects_found_in_a_shrunk_decode_are_reported_in_source_pixels() {
        let o = Objects::detected(
            vec![object("a", [10.0, 20.0, 30.0, 40.0])],
            (100, 50),
            (400, 200),
            BTreeMap::new(),
        );
        assert_eq!(o.found[0].bbox, [40.0, 80.0, 120.0, 160.0]);
        assert_eq!(o.current[0].bbox, [10.0, 20.0, 30.0, 40.0]);
    }

    #[test]
    fn the_window_frames_the_objects_and_honours_weights() {
        let objects = vec![
            object("face", [700.0, 100.0, 760.0, 160.0]),
            object("car", [0.0, 0.0, 200.0, 100.0]),
        ];
        let mut o = Objects::new(objects, BTreeMap::new());
        // Both do not fit a 300×300 window: the centroid leans to the bigger car.
        let (x, _) = o.window((1000, 500), (300, 300)).unwrap();
        assert!(x < 350, "{x}");
        o.weights.insert("car".into(), 0.0);
        // Only the face counts: the window is centred on it.
        assert_eq!(o.window((1000, 500), (300, 300)), Some((580, 0)));
        o.weights.insert("face".into(), 0.0);
        assert_eq!(o.window((1000, 500), (300, 300)), None);
    }
}
