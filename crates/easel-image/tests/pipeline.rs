//! The pipeline's JSON and TOML forms, validation messages, and presets.

mod common;

use std::collections::BTreeMap;

use common::{decode, jpeg, png, rgb};
use easel_image::{Format, Limits, Op, Pipeline, builtin_presets, process};
use image::ExtendedColorType;

#[test]
fn json_form_parses_and_round_trips() {
    let json = r##"{
        "ops": [
            {"op": "resize", "width": 800, "height": 600, "mode": "fill", "gravity": "smart"},
            {"op": "crop", "width": 100, "height": 100, "x": 5, "y": 6},
            {"op": "rotate", "degrees": 90},
            {"op": "flip"},
            {"op": "flop"},
            {"op": "blur", "sigma": 2.5},
            {"op": "sharpen"},
            {"op": "watermark_text", "text": "© Easel", "size": 0.04, "color": "#ff8800", "opacity": 0.7, "gravity": "south", "margin": 0.01, "tile": false}
        ],
        "output": {"format": "webp", "quality": 75, "keep_copyright": true}
    }"##;
    let p: Pipeline = serde_json::from_str(json).unwrap();
    assert_eq!(p.ops.len(), 8);
    assert!(matches!(p.ops[6], Op::Sharpen { sigma, amount } if sigma == 1.0 && amount == 1.0));
    assert_eq!(p.output.format, Some(Format::Webp));
    let back: Pipeline = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(back, p);
    p.validate(&Limits::default()).unwrap();
}

#[test]
fn unknown_ops_and_fields_are_refused_with_their_name() {
    let e = serde_json::from_str::<Pipeline>(r#"{"ops":[{"op":"explode"}]}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("explode"), "{e}");
    let e =
        serde_json::from_str::<Pipeline>(r#"{"ops":[{"op":"resize","width":5,"colour":"red"}]}"#)
            .unwrap_err()
            .to_string();
    assert!(e.contains("colour"), "{e}");
    let e = serde_json::from_str::<Pipeline>(
        r#"{"ops":[{"op":"watermark_text","text":"a","bogus":1}]}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("bogus"), "{e}");
    let e = serde_json::from_str::<Pipeline>(r#"{"steps":[]}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("steps"), "{e}");
    let e = serde_json::from_str::<Pipeline>(r#"{"output":{"format":"bmp"}}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("bmp"), "{e}");
    let e = serde_json::from_str::<Pipeline>(
        r##"{"ops":[{"op":"watermark_text","text":"a","color":"#12"}]}"##,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("#12"), "{e}");
}

#[test]
fn validation_names_the_operation_and_the_reason() {
    let cases = [
        (
            r#"{"ops":[{"op":"resize","width":0}]}"#,
            "ops[0] resize",
            "width",
        ),
        (
            r#"{"ops":[{"op":"flip"},{"op":"resize","width":10,"mode":"fill"}]}"#,
            "ops[1] resize",
            "both width and height",
        ),
        (
            r#"{"ops":[{"op":"rotate","degrees":45}]}"#,
            "ops[0] rotate",
            "90, 180 or 270",
        ),
        (
            r#"{"ops":[{"op":"blur","sigma":-1}]}"#,
            "ops[0] blur",
            "sigma",
        ),
        (
            r#"{"ops":[{"op":"crop","width":5,"height":5,"x":1}]}"#,
            "ops[0] crop",
            "both x and y",
        ),
        (
            r#"{"ops":[{"op":"watermark_text","text":"  "}]}"#,
            "ops[0] watermark_text",
            "empty",
        ),
        (
            r#"{"ops":[{"op":"watermark_text","text":"a","opacity":2}]}"#,
            "ops[0] watermark_text",
            "opacity",
        ),
        (
            r#"{"ops":[{"op":"watermark_image","png":"!!"}]}"#,
            "ops[0] watermark_image",
            "base64",
        ),
        (
            r#"{"ops":[{"op":"watermark_image","png":"aGVsbG8="}]}"#,
            "ops[0] watermark_image",
            "PNG",
        ),
        (r#"{"output":{"quality":0}}"#, "output", "quality"),
        (
            r#"{"output":{"format":"png","lossless":true}}"#,
            "output",
            "lossless",
        ),
        (
            r#"{"ops":[{"op":"resize","width":20000}]}"#,
            "ops[0] resize",
            "16383",
        ),
    ];
    for (json, op, reason) in cases {
        let p: Pipeline = serde_json::from_str(json).unwrap();
        let e = p.validate(&Limits::default()).unwrap_err();
        assert_eq!(e.code(), "invalid-pipeline", "{json}");
        assert!(!e.is_retryable());
        let msg = e.to_string();
        assert!(msg.starts_with(op) && msg.contains(reason), "{json}: {msg}");
    }
}

#[test]
fn builtin_presets_do_what_they_promise() {
    let presets = builtin_presets();
    let photo = jpeg(
        3000,
        2000,
        &rgb(3000, 2000, |x, y| [(x / 12) as u8, (y / 8) as u8, 128]),
    );
    let thumb = process(&photo, &presets["thumbnail"], &Limits::default()).unwrap();
    assert_eq!(
        (thumb.format, thumb.width, thumb.height),
        (Format::Webp, 256, 256)
    );
    assert_eq!(decode(&thumb.bytes).dimensions(), (256, 256));
    let web = process(&photo, &presets["web"], &Limits::default()).unwrap();
    assert_eq!(
        (web.format, web.width, web.height),
        (Format::Jpeg, 1600, 1067)
    );
    let small = png(
        300,
        200,
        &rgb(300, 200, |_, _| [1, 2, 3]),
        ExtendedColorType::Rgb8,
    );
    let web = process(&small, &presets["web"], &Limits::default()).unwrap();
    assert_eq!(
        (web.format, web.width, web.height),
        (Format::Jpeg, 300, 200),
        "web never enlarges"
    );
    for p in presets.values() {
        p.validate(&Limits::default()).unwrap();
    }
}

#[derive(serde::Deserialize)]
struct Config {
    presets: BTreeMap<String, Pipeline>,
    #[serde(default)]
    limits: Limits,
}

#[test]
fn presets_and_limits_parse_from_toml() {
    let text = r##"
        [limits]
        max_pixels = 1_000_000

        [presets.avatar]
        ops = [
            { op = "resize", width = 128, height = 128, mode = "fill", gravity = "smart" },
            { op = "watermark_text", text = "me", color = "#000000" },
        ]
        output = { format = "png", compression = 9 }

        [presets.plain]
        auto_orient = false
    "##;
    let cfg: Config = toml::from_str(text).unwrap();
    assert_eq!(cfg.limits.max_pixels, 1_000_000);
    assert_eq!(
        cfg.limits.max_output_width,
        Limits::default().max_output_width
    );
    let avatar = &cfg.presets["avatar"];
    avatar.validate(&cfg.limits).unwrap();
    assert_eq!(avatar.output.format, Some(Format::Png));
    assert!(!cfg.presets["plain"].auto_orient);
    let src = png(
        400,
        300,
        &rgb(400, 300, |x, _| [x as u8, 0, 0]),
        ExtendedColorType::Rgb8,
    );
    let out = process(&src, avatar, &cfg.limits).unwrap();
    assert_eq!((out.format, out.width, out.height), (Format::Png, 128, 128));
    // Built-in presets also serialise to TOML and back unchanged.
    for (name, p) in builtin_presets() {
        let text = toml::to_string(&p).unwrap();
        assert_eq!(toml::from_str::<Pipeline>(&text).unwrap(), p, "{name}");
    }
    let e = toml::from_str::<Limits>("max_pixel = 5")
        .unwrap_err()
        .to_string();
    assert!(e.contains("max_pixel"), "{e}");
}
