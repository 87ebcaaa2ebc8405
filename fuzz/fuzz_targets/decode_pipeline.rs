//! Fuzzes header probing, decoding and a pipeline chosen by the first input byte.
//! Any panic, abort or limit breach is a bug; errors are expected and fine.
#![no_main]

use easel_image::{Limits, Pipeline, probe, process};
use libfuzzer_sys::fuzz_target;

/// Pipelines exercising every operation; the first byte of the input picks one.
const PIPELINES: &[&str] = &[
    r#"{"ops":[{"op":"resize","width":64,"height":64}],"output":{"format":"jpeg"}}"#,
    r#"{"ops":[{"op":"resize","width":32,"height":48,"mode":"fill","gravity":"smart"}],"output":{"format":"webp"}}"#,
    r#"{"ops":[{"op":"resize","width":17,"height":5,"mode":"exact","enlarge":true}],"output":{"format":"png"}}"#,
    r#"{"ops":[{"op":"crop","width":9,"height":9,"gravity":"southwest"},{"op":"rotate","degrees":90},{"op":"flip"},{"op":"flop"}]}"#,
    r#"{"ops":[{"op":"blur","sigma":1.5},{"op":"sharpen"}],"output":{"format":"gif"}}"#,
    r#"{"ops":[{"op":"watermark_text","text":"fuzz","tile":true}],"output":{"format":"webp","lossless":true}}"#,
    r#"{"auto_orient":false,"output":{"format":"jpeg","progressive":true,"keep_copyright":true}}"#,
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, image)) = data.split_first() else {
        return;
    };
    let _ = probe(image);
    let pipeline: Pipeline =
        serde_json::from_str(PIPELINES[usize::from(pick) % PIPELINES.len()]).unwrap();
    // Tight limits keep each run fast and make limit handling part of the target. The
    // pixel cap bounds the work of one input: a blur of a 2.7-megapixel GIF (a 500-byte
    // input) took 3 s of CPU under AddressSanitizer, over libFuzzer's timeout on a busy
    // CI machine, while the budget is only checked between stages.
    let limits = Limits {
        max_pixels: 1_000_000,
        max_input_bytes: 1 << 20,
        time_budget_ms: 2_000,
        ..Limits::default()
    };
    if let Ok(out) = process(image, &pipeline, &limits) {
        assert!(out.width >= 1 && out.height >= 1);
        assert!(out.width <= limits.max_output_width && out.height <= limits.max_output_height);
        assert_eq!(easel_image::sniff(&out.bytes), Some(out.format));
    }
});
