//! Built-in named pipelines. Configuration may add more under `[presets.NAME]`.

use std::collections::BTreeMap;

use crate::format::Format;
use crate::objects::DetectParams;
use crate::params::{Filter, Gravity, ResizeMode};
use crate::pipeline::{Op, OutputOptions, Pipeline};

/// The presets every Easel installation has:
/// - `thumbnail`: fill 256×256 (centre crop), WebP quality 80;
/// - `web`: fit inside 1600×1600 without enlarging, JPEG quality 82, metadata stripped;
/// - `web-detect`: `web` after detecting objects with the default detection model when
///   one is installed (seed 002's `POST /process` default).
pub fn builtin_presets() -> BTreeMap<String, Pipeline> {
    let resize = |w, h, mode| Op::Resize {
        width: Some(w),
        height: Some(h),
        mode,
        gravity: Gravity::Center,
        enlarge: false,
        filter: Filter::Lanczos3,
    };
    let thumbnail = Pipeline {
        ops: vec![resize(256, 256, ResizeMode::Fill)],
        output: OutputOptions {
            format: Some(Format::Webp),
            quality: Some(80),
            ..OutputOptions::default()
        },
        auto_orient: true,
    };
    let web = Pipeline {
        ops: vec![resize(1600, 1600, ResizeMode::Fit)],
        output: OutputOptions {
            format: Some(Format::Jpeg),
            quality: Some(82),
            ..OutputOptions::default()
        },
        auto_orient: true,
    };
    let mut web_detect = web.clone();
    web_detect.ops.insert(
        0,
        Op::Detect(DetectParams {
            if_available: true,
            ..DetectParams::default()
        }),
    );
    BTreeMap::from([
        ("thumbnail".to_string(), thumbnail),
        ("web".to_string(), web),
        ("web-detect".to_string(), web_detect),
    ])
}
