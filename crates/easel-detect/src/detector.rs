//! A detection model ready to use: the graph, its class names (the export's `names`
//! metadata or a labels file), its input size, and the check on load that its output is
//! a YOLO detection head.

use std::path::Path;

use crate::error::DetectError;
use crate::graph::{Dim, Graph};
use crate::run::Session;
use crate::tensor::Tensor;
use crate::yolo::{Detection, Filter, Image, decode, letterbox, to_source};

/// Input side used when the export leaves height and width dynamic and its metadata
/// does not say (`imgsz`): Ultralytics' default.
const DEFAULT_SIDE: usize = 640;

/// A loaded YOLO detector.
#[derive(Debug)]
pub struct Detector {
    session: Session,
    names: Vec<String>,
    /// Whether the names came from the model or a labels file (not `class0`, …).
    named: bool,
    /// `(height, width)` of the network input.
    input: (usize, usize),
}

impl Detector {
    /// Loads an ONNX file; `labels` (one class name per line) overrides the model's own
    /// names; `side` sets the input size of a model whose input is dynamic.
    pub fn open(
        path: &Path,
        labels: Option<&Path>,
        side: Option<usize>,
    ) -> Result<Detector, DetectError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| DetectError::Io {
                path: p.display().to_string(),
                message: e.to_string(),
            })
        };
        let names = labels
            .map(|p| read(p).map(|b| labels_file(&String::from_utf8_lossy(&b))))
            .transpose()?;
        Detector::from_bytes(&read(path)?, names, side)
    }

    /// Loads a model from its bytes. `names` overrides the metadata's; `side` sets the
    /// input size of a model whose input is dynamic.
    pub fn from_bytes(
        bytes: &[u8],
        names: Option<Vec<String>>,
        side: Option<usize>,
    ) -> Result<Detector, DetectError> {
        let graph = Graph::parse(bytes)?;
        let input = input_size(&graph, side);
        let names = names
            .or_else(|| graph.metadata.get("names").and_then(|n| names_metadata(n)))
            .unwrap_or_default();
        let session = Session::new(graph);
        let mut detector = Detector {
            session,
            named: !names.is_empty(),
            names,
            input,
        };
        detector.check_head()?;
        Ok(detector)
    }

    /// Runs the network once on a blank input: the output must be `(1, 4 + classes,
    /// anchors)`. Models without names get `class0`, `class1` … from the head's width.
    /// The run also prepares the shape-only part of the graph for later runs.
    fn check_head(&mut self) -> Result<(), DetectError> {
        let (h, w) = self.input;
        let out = self
            .session
            .run(Tensor::f32(vec![1, 3, h, w], vec![PAD_BLANK; 3 * h * w]))?;
        let [1, rows, anchors] = out.shape[..] else {
            return Err(DetectError::NotADetector(format!(
                "its output has shape {:?}, not (1, 4 + classes, boxes) as a YOLOv8/YOLO11 \
                 detection export has (end-to-end exports with NMS inside are not supported)",
                out.shape
            )));
        };
        out.floats("the output")
            .map_err(|_| DetectError::NotADetector("its output is not float".into()))?;
        if rows <= 4 || anchors == 0 {
            return Err(DetectError::NotADetector(format!(
                "its output has shape {:?}: no class scores",
                out.shape
            )));
        }
        if self.names.is_empty() {
            self.names = (0..rows - 4).map(|i| format!("class{i}")).collect();
        }
        if self.names.len() != rows - 4 {
            return Err(DetectError::NotADetector(format!(
                "its output scores {} classes but it names {}",
                rows - 4,
                self.names.len()
            )));
        }
        Ok(())
    }

    /// Whether the class names are the model's own or a labels file's, rather than
    /// `class0`, `class1` … made up for a model that names none.
    pub fn has_names(&self) -> bool {
        self.named
    }

    /// The class names, by index.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The network's `(height, width)`.
    pub fn input_size(&self) -> (usize, usize) {
        self.input
    }

    /// Runs the network on a prepared `(1, 3, height, width)` input and returns the raw
    /// head output.
    pub fn run(&self, input: Tensor) -> Result<Tensor, DetectError> {
        self.session.run(input)
    }

    /// [`Detector::run`] with each node timed (see [`crate::run::Session::run_timed`]).
    pub fn run_timed(
        &self,
        input: Tensor,
    ) -> Result<(Tensor, Vec<crate::run::NodeTime>), DetectError> {
        self.session.run_timed(input)
    }

    /// Detects objects in `image`: letterbox, network, decoding, NMS; boxes in source
    /// pixels.
    pub fn detect(&self, image: &Image, filter: &Filter) -> Result<Vec<Detection>, DetectError> {
        let expected = image.width as usize * image.height as usize * image.channels;
        if !(3..=4).contains(&image.channels) || image.pixels.len() != expected || expected == 0 {
            return Err(DetectError::run("the image buffer does not match its size"));
        }
        let (tensor, placement) = letterbox(image, self.input);
        let out = self.session.run(tensor)?;
        let anchors = out.shape[2];
        let mut found = decode(out.floats("the output")?, anchors, &self.names, filter);
        for d in &mut found {
            d.bbox = to_source(d.bbox, &placement);
        }
        Ok(found)
    }
}

/// The value blank inputs are filled with (the letterbox grey).
const PAD_BLANK: f32 = 114.0 / 255.0;

/// The input size: the export's fixed sides, else `side`, else the metadata's `imgsz`,
/// else 640.
fn input_size(graph: &Graph, side: Option<usize>) -> (usize, usize) {
    let [_, _, h, w] = graph.input_dims();
    let imgsz = graph.metadata.get("imgsz").and_then(|s| {
        let v: Vec<usize> = s
            .trim_matches(|c| c == '[' || c == ']')
            .split(',')
            .filter_map(|x| x.trim().parse().ok())
            .collect();
        match v[..] {
            [h, w] => Some((h, w)),
            [s] => Some((s, s)),
            _ => None,
        }
    });
    let fallback = side
        .map(|s| (s, s))
        .or(imgsz)
        .unwrap_or((DEFAULT_SIDE, DEFAULT_SIDE));
    let pick = |d: Dim, f: usize| match d {
        Dim::Fixed(v) => v,
        Dim::Dynamic => f,
    };
    (pick(h, fallback.0), pick(w, fallback.1))
}

/// Class names from a labels file: one per line, blank lines ignored.
fn labels_file(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Class names from Ultralytics' `names` metadata, a Python dict literal such as
/// `{0: 'person', 1: "driver's seat"}`, ordered by index. `None` if it is not one.
fn names_metadata(text: &str) -> Option<Vec<String>> {
    let body = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut chars = body.chars().peekable();
    let mut entries: Vec<(usize, String)> = Vec::new();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let index: String = std::iter::from_fn(|| chars.next_if(char::is_ascii_digit)).collect();
        let index: usize = index.parse().ok()?;
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ':') {
            chars.next();
        }
        let quote = chars.next().filter(|c| *c == '\'' || *c == '"')?;
        let mut name = String::new();
        loop {
            match chars.next()? {
                '\\' => name.push(chars.next()?),
                c if c == quote => break,
                c => name.push(c),
            }
        }
        entries.push((index, name));
    }
    entries.sort_by_key(|(i, _)| *i);
    let in_order = entries.iter().enumerate().all(|(i, (j, _))| i == *j);
    in_order.then(|| entries.into_iter().map(|(_, n)| n).collect())
}

#[cfg(test)]
mod tests {
    use super::names_metadata;

    #[test]
    fn ultralytics_names_parse_in_index_order() {
        let names = names_metadata(r#"{1: "driver's seat", 0: 'person', 2: 'a, b', 3: 'it\'s'}"#);
        assert_eq!(
            names.unwrap(),
            vec!["person", "driver's seat", "a, b", "it's"]
        );
        assert_eq!(names_metadata("{0: 'a', 2: 'c'}"), None, "a gap");
        assert_eq!(names_metadata("person,car"), None);
        assert_eq!(names_metadata("{}"), Some(vec![]));
    }
}
