//! Hostile and broken inputs: each gives its typed error or a correct result, never a
//! panic; a decompression bomb is refused from its header in milliseconds.

mod common;

use std::time::{Duration, Instant};

use common::{decode, jpeg, png, rgb, run};
use easel_image::{Format, ImageError, Limits, Pipeline, probe, process};
use image::ExtendedColorType;

fn go(bytes: &[u8], json: &str) -> Result<easel_image::Output, ImageError> {
    process(
        bytes,
        &serde_json::from_str::<Pipeline>(json).unwrap(),
        &Limits::default(),
    )
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A valid PNG signature + IHDR claiming `w`×`h`, then a small IDAT and IEND.
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &[0x78, 0x9c, 0x63, 0, 0, 0, 1, 0, 1]);
    chunk(b"IEND", &[]);
    out
}

#[test]
fn zero_bytes() {
    let e = go(&[], "{}").unwrap_err();
    assert_eq!(e, ImageError::EmptyInput);
    assert_eq!(e.code(), "empty-input");
}

#[test]
fn unknown_bytes_and_unsupported_formats() {
    let e = go(b"hello, world", "{}").unwrap_err();
    assert_eq!(e.code(), "unsupported-format");
    let tiff = b"II*\0\x08\0\0\0\0\0";
    let e = go(tiff, "{}").unwrap_err();
    assert_eq!(e.code(), "unsupported-format");
    assert!(e.to_string().contains("TIFF"), "{e}");
    // An AVIF brand with nothing after it is an AVIF, and a broken one.
    let avif = b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf";
    let e = go(avif, "{}").unwrap_err();
    assert_eq!(e.code(), "corrupt-image", "{e}");
}

#[test]
fn truncated_jpeg() {
    let full = jpeg(256, 256, &rgb(256, 256, |x, y| [x as u8, y as u8, 7]));
    for cut in [3, 20, 200, full.len() / 2, full.len() - 2] {
        match go(&full[..cut], r#"{"ops":[{"op":"resize","width":64}]}"#) {
            Err(e) => assert_eq!(e.code(), "corrupt-image", "cut at {cut}: {e}"),
            Ok(out) => assert_eq!((out.width, out.height), (64, 64), "cut at {cut}"),
        }
    }
}

#[test]
fn corrupt_png_chunk() {
    let good = png(
        64,
        64,
        &rgb(64, 64, |x, _| [x as u8, 9, 9]),
        ExtendedColorType::Rgb8,
    );
    let idat = good.windows(4).position(|w| w == b"IDAT").unwrap();
    let mut bad = good.clone();
    for b in &mut bad[idat + 6..idat + 16] {
        *b ^= 0x5a;
    }
    let e = go(&bad, "{}").unwrap_err();
    assert_eq!(e.code(), "corrupt-image", "{e}");
    assert!(e.to_string().starts_with("decode"), "{e}");
}

#[test]
fn format_comes_from_bytes_not_names() {
    // A PNG is a PNG whatever it is called; `process` never sees a name, and the
    // output defaults to the sniffed format.
    let bytes = png(
        10,
        10,
        &rgb(10, 10, |_, _| [1, 2, 3]),
        ExtendedColorType::Rgb8,
    );
    assert_eq!(probe(&bytes).unwrap().format, Format::Png);
    assert_eq!(go(&bytes, "{}").unwrap().format, Format::Png);
}

#[test]
fn decompression_bomb_is_refused_from_the_header() {
    let bomb = png_header_only(100_000, 100_000);
    assert!(bomb.len() < 100);
    let start = Instant::now();
    let e = go(&bomb, r#"{"ops":[{"op":"resize","width":100}]}"#).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_millis(50),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(e.code(), "image-too-large");
    assert!(e.to_string().contains("100000x100000"), "{e}");
    // JPEG and GIF headers are checked the same way.
    let mut big_jpeg = jpeg(16, 16, &rgb(16, 16, |_, _| [0, 0, 0]));
    let sof = big_jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    big_jpeg[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
    assert_eq!(go(&big_jpeg, "{}").unwrap_err().code(), "image-too-large");
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0x3b]);
    assert_eq!(go(&gif, "{}").unwrap_err().code(), "image-too-large");
}

#[test]
fn input_size_and_pixel_limits_are_configurable() {
    let bytes = png(
        100,
        100,
        &rgb(100, 100, |_, _| [1, 2, 3]),
        ExtendedColorType::Rgb8,
    );
    let p = Pipeline::default();
    let small = Limits {
        max_input_bytes: 10,
        ..Limits::default()
    };
    assert_eq!(
        process(&bytes, &p, &small).unwrap_err().code(),
        "input-too-large"
    );
    let few = Limits {
        max_pixels: 9_999,
        ..Limits::default()
    };
    assert_eq!(
        process(&bytes, &p, &few).unwrap_err().code(),
        "image-too-large"
    );
    let narrow = Limits {
        max_output_width: 50,
        ..Limits::default()
    };
    let e = process(&bytes, &p, &narrow).unwrap_err();
    assert_eq!(e.code(), "output-too-large");
}

#[test]
fn time_budget() {
    let bytes = png(
        1500,
        1500,
        &rgb(1500, 1500, |x, y| [x as u8, y as u8, 0]),
        ExtendedColorType::Rgb8,
    );
    let p: Pipeline = serde_json::from_str(r#"{"ops":[{"op":"blur","sigma":20}]}"#).unwrap();
    let limits = Limits {
        time_budget_ms: 1,
        ..Limits::default()
    };
    let e = process(&bytes, &p, &limits).unwrap_err();
    assert_eq!(e.code(), "time-budget-exceeded");
    assert!(!e.is_retryable());
}

#[test]
fn animated_gif_gives_its_first_frame() {
    let mut bytes = Vec::new();
    {
        let mut enc = image::codecs::gif::GifEncoder::new(&mut bytes);
        for colour in [[255u8, 0, 0, 255], [0, 0, 255, 255]] {
            let buf = image::RgbaImage::from_pixel(20, 10, image::Rgba(colour));
            enc.encode_frame(image::Frame::new(buf)).unwrap();
        }
    }
    let out = run(&bytes, "{}");
    assert_eq!((out.format, out.width, out.height), (Format::Png, 20, 10));
    let p = decode(&out.bytes).get_pixel(10, 5).0;
    assert!(p[0] > 200 && p[2] < 50, "first frame is red: {p:?}");
}

#[test]
fn extreme_shapes() {
    let one = png(1, 1, &[10, 20, 30], ExtendedColorType::Rgb8);
    assert_eq!(
        run(&one, r#"{"ops":[{"op":"resize","width":100}]}"#).width,
        1
    );
    let t = run(
        &one,
        r#"{"ops":[{"op":"resize","width":64,"height":64,"mode":"fill","gravity":"smart","enlarge":true},{"op":"blur","sigma":2},{"op":"watermark_text","text":"x"}],"output":{"format":"webp"}}"#,
    );
    assert_eq!((t.width, t.height), (64, 64));
    let tall = png(1, 65_535, &vec![200; 65_535 * 3], ExtendedColorType::Rgb8);
    let out = run(
        &tall,
        r#"{"ops":[{"op":"resize","width":800,"height":800}],"output":{"format":"jpeg"}}"#,
    );
    assert_eq!((out.width, out.height), (1, 800));
    let smart = run(
        &tall,
        r#"{"ops":[{"op":"crop","width":1,"height":50,"gravity":"smart"},{"op":"sharpen"}]}"#,
    );
    assert_eq!((smart.width, smart.height), (1, 50));
    // Too tall to encode without a resize: a typed error, not a panic.
    assert_eq!(go(&tall, "{}").unwrap_err().code(), "output-too-large");
}
