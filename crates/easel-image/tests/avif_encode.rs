//! AVIF output: round trips through an independent decoder (`avifdec`), the 8-bit
//! 4:2:0 default, alpha, quality and speed, kept copyright, and the options that
//! validation refuses.

mod common;

use common::tools::avifdec;
use common::{decode, exif_tiff, jpeg, opaque, photo, png, rgba, run, ssim, with_exif};
use easel_image::{Format, Limits, OutputOptions, Pipeline, encode_rgba, process, sniff};
use image::{ExtendedColorType, RgbaImage};

#[test]
fn jpeg_to_fit_avif_round_trips() {
    let src = jpeg(640, 480, &photo(640, 480));
    let fit = |output: &str| {
        let ops = r#"[{"op":"resize","width":320,"height":320}]"#;
        run(&src, &format!(r#"{{"ops":{ops},"output":{output}}}"#))
    };
    let avif = fit(r#"{"format":"avif","quality":75}"#);
    assert_eq!(
        (avif.format, avif.width, avif.height),
        (Format::Avif, 320, 240)
    );
    assert_eq!(sniff(&avif.bytes), Some(Format::Avif));
    let reference = decode(&fit(r#"{"format":"png"}"#).bytes);
    let theirs = avifdec(&avif.bytes);
    assert_eq!(theirs.dimensions(), (320, 240));
    let score = ssim(&theirs, &reference);
    assert!(score >= 0.98, "SSIM {score} at quality 75");
    // Easel reads back what it wrote.
    let (format, ours) = easel_image::decode_rgba(&avif.bytes, &Limits::default()).unwrap();
    assert_eq!((format, ours.dimensions()), (Format::Avif, (320, 240)));
    assert!(ssim(&ours, &theirs) >= 0.99);
    // The default quality is at least as faithful as the default JPEG, and smaller.
    let (avif, jpeg) = (fit(r#"{"format":"avif"}"#), fit(r#"{"format":"jpeg"}"#));
    let (a, j) = (
        ssim(&avifdec(&avif.bytes), &reference),
        ssim(&decode(&jpeg.bytes), &reference),
    );
    assert!(a >= j, "AVIF SSIM {a}, JPEG {j}");
    assert!(avif.bytes.len() < jpeg.bytes.len());
}

/// `av1C` byte 2: tier, high_bitdepth, twelve_bit, monochrome, subsampling x and y.
fn av1c_flags(avif: &[u8]) -> u8 {
    common::tools::box_body(avif, b"av1C").expect("av1C")[2]
}

#[test]
fn default_is_8_bit_4_2_0_without_alpha_for_opaque_input() {
    let rgba_opaque = rgba(64, 48, |x, y| [x as u8 * 3, y as u8 * 5, 90, 255]);
    let input = png(64, 48, &rgba_opaque, ExtendedColorType::Rgba8);
    let out = run(&input, r#"{"output":{"format":"avif"}}"#);
    let flags = av1c_flags(&out.bytes);
    assert_eq!(flags & 0b0110_0000, 0, "8-bit: {flags:#010b}");
    assert_eq!(
        flags & 0b0001_1100,
        0b0000_1100,
        "4:2:0 colour: {flags:#010b}"
    );
    // An opaque alpha channel is not worth an auxiliary image.
    assert!(
        !out.bytes.windows(14).any(|w| w.starts_with(b"urn:mpeg:")),
        "no alpha item"
    );
}

#[test]
fn alpha_round_trips() {
    let px = rgba(96, 64, |x, _| [30, 120, 200, if x < 48 { 255 } else { 60 }]);
    let out = run(
        &png(96, 64, &px, ExtendedColorType::Rgba8),
        r#"{"output":{"format":"avif","quality":90}}"#,
    );
    let img = avifdec(&out.bytes);
    let (left, right) = (img.get_pixel(10, 30).0, img.get_pixel(80, 30).0);
    assert!(left[3] >= 250, "{left:?}");
    assert!(right[3].abs_diff(60) <= 6, "{right:?}");
    assert!(common::close(right, [30, 120, 200], 10), "{right:?}");
}

#[test]
fn quality_and_speed_change_the_encoding() {
    let src = jpeg(320, 240, &photo(320, 240));
    let size = |output: &str| run(&src, &format!(r#"{{"output":{output}}}"#)).bytes.len();
    let low = size(r#"{"format":"avif","quality":30}"#);
    let high = size(r#"{"format":"avif","quality":90}"#);
    assert!(low * 2 < high, "quality 30: {low} bytes, 90: {high} bytes");
    let slow = run(&src, r#"{"output":{"format":"avif","speed":4}}"#);
    let fast = run(&src, r#"{"output":{"format":"avif","speed":9}}"#);
    assert_ne!(slow.bytes, fast.bytes, "speed reaches the encoder");
    let reference = decode(&run(&src, r#"{"output":{"format":"png"}}"#).bytes);
    for out in [slow, fast] {
        assert!(ssim(&avifdec(&out.bytes), &reference) >= 0.97);
    }
}

#[test]
fn copyright_is_kept_only_on_request() {
    let src = with_exif(
        &jpeg(32, 32, &photo(32, 32)),
        &exif_tiff(Some(1), Some("(c) Jane Doe")),
    );
    let plain = run(&src, r#"{"output":{"format":"avif"}}"#);
    assert!(
        !plain.bytes.windows(4).any(|w| w == b"Exif"),
        "no EXIF by default"
    );
    let kept = run(
        &src,
        r#"{"output":{"format":"avif","keep_copyright":true}}"#,
    );
    assert!(kept.bytes.windows(12).any(|w| w == b"(c) Jane Doe"));
    assert_eq!(avifdec(&kept.bytes).dimensions(), (32, 32));
}

#[test]
fn encode_rgba_writes_avif_and_refuses_heic() {
    let img = RgbaImage::from_raw(
        48,
        32,
        photo(48, 32)
            .chunks(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
    )
    .unwrap();
    let avif = encode_rgba(&img, Format::Avif, &OutputOptions::default()).unwrap();
    assert!(ssim(&opaque(&avifdec(&avif)), &img) >= 0.95);
    for format in [Format::Heic, Format::Heif] {
        let e = encode_rgba(&img, format, &OutputOptions::default()).unwrap_err();
        assert_eq!(e.code(), "invalid-pipeline", "{e}");
    }
}

#[test]
fn avif_options_are_validated() {
    let refused = [
        (r#"{"format":"heic"}"#, "read only"),
        (r#"{"format":"heif"}"#, "read only"),
        (r#"{"format":"webp","speed":5}"#, "speed needs format avif"),
        (
            r#"{"format":"avif","speed":10}"#,
            "speed must be between 0 and 9",
        ),
        (
            r#"{"format":"avif","lossless":true}"#,
            "lossless needs format webp",
        ),
    ];
    for (output, reason) in refused {
        let p: Pipeline = serde_json::from_str(&format!(r#"{{"output":{output}}}"#)).unwrap();
        let e = p.validate(&Limits::default()).unwrap_err();
        assert_eq!(e.code(), "invalid-pipeline", "{output}");
        assert!(e.to_string().contains(reason), "{output}: {e}");
        let src = jpeg(8, 8, &photo(8, 8));
        assert!(process(&src, &p, &Limits::default()).is_err(), "{output}");
    }
    let preset: Pipeline = toml::from_str(
        "ops = [{ op = \"resize\", width = 800 }]\noutput = { format = \"avif\", quality = 55, speed = 7 }",
    )
    .unwrap();
    assert!(preset.validate(&Limits::default()).is_ok());
    assert_eq!(
        (preset.output.quality, preset.output.speed),
        (Some(55), Some(7))
    );
}
