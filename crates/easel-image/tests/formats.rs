//! Every decodable input format and every output format, alpha through resize and
//! encode, CMYK and Adobe RGB colours, metadata stripping.

mod common;

use common::{close, decode, exif_tiff, jpeg, png, rgb, rgba, run, with_exif};
use easel_image::{Format, probe, sniff};
use image::ExtendedColorType;

/// 64x48: left half orange, right half teal.
fn halves(x: u32) -> [u8; 3] {
    if x < 32 {
        [240, 140, 20]
    } else {
        [20, 140, 160]
    }
}

fn check_halves(bytes: &[u8], tol: u8, what: &str) {
    let img = decode(bytes);
    assert_eq!(img.dimensions(), (64, 48), "{what}");
    assert!(
        close(img.get_pixel(10, 24).0, halves(10), tol),
        "{what}: {:?}",
        img.get_pixel(10, 24)
    );
    assert!(
        close(img.get_pixel(54, 24).0, halves(54), tol),
        "{what}: {:?}",
        img.get_pixel(54, 24)
    );
}

fn inputs() -> Vec<(&'static str, Vec<u8>, u8)> {
    let px = rgb(64, 48, |x, _| halves(x));
    let px16: Vec<u8> = px
        .iter()
        .flat_map(|&v| (u16::from(v) * 257).to_be_bytes())
        .collect();
    let px16_native: Vec<u8> = px16
        .chunks(2)
        .flat_map(|c| u16::from_be_bytes([c[0], c[1]]).to_ne_bytes())
        .collect();
    let mut webp_ll = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::webp::WebPEncoder::new_lossless(&mut webp_ll),
        &px,
        64,
        48,
        ExtendedColorType::Rgb8,
    )
    .unwrap();
    let webp_lossy = webp::Encoder::from_rgb(&px, 64, 48).encode(90.0).to_vec();
    let mut gif = Vec::new();
    image::codecs::gif::GifEncoder::new(&mut gif)
        .encode(&px, 64, 48, ExtendedColorType::Rgb8)
        .unwrap();
    let mut progressive = turbojpeg::Compressor::new().unwrap();
    progressive.set_quality(95).unwrap();
    progressive.set_subsamp(turbojpeg::Subsamp::None).unwrap();
    progressive.set_progressive(true).unwrap();
    let prog = progressive
        .compress_to_vec(turbojpeg::Image {
            pixels: px.as_slice(),
            width: 64,
            pitch: 192,
            height: 48,
            format: turbojpeg::PixelFormat::RGB,
        })
        .unwrap();
    vec![
        ("png8", png(64, 48, &px, ExtendedColorType::Rgb8), 0),
        (
            "png16",
            png(64, 48, &px16_native, ExtendedColorType::Rgb16),
            0,
        ),
        ("palette png", palette_png(), 0),
        ("jpeg baseline", jpeg(64, 48, &px), 8),
        ("jpeg progressive", prog, 8),
        ("webp lossless", webp_ll, 0),
        ("webp lossy", webp_lossy, 12),
        ("gif", gif, 12),
    ]
}

/// An indexed-colour PNG written with the png crate.
fn palette_png() -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, 64, 48);
    enc.set_color(png::ColorType::Indexed);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_palette(vec![240, 140, 20, 20, 140, 160]);
    let mut w = enc.write_header().unwrap();
    let idx: Vec<u8> = (0..48)
        .flat_map(|_| (0..64).map(|x| u8::from(x >= 32)))
        .collect();
    w.write_image_data(&idx).unwrap();
    drop(w);
    out
}

#[test]
fn every_input_format_decodes() {
    for (what, bytes, tol) in inputs() {
        let info = probe(&bytes).unwrap();
        assert_eq!((info.width, info.height), (64, 48), "{what}");
        let out = run(&bytes, r#"{"output":{"format":"png"}}"#);
        check_halves(&out.bytes, tol, what);
    }
}

#[test]
fn every_output_format_round_trips() {
    let src = png(
        64,
        48,
        &rgb(64, 48, |x, _| halves(x)),
        ExtendedColorType::Rgb8,
    );
    for (json, format, tol) in [
        (r#"{"format":"jpeg","quality":95}"#, Format::Jpeg, 10),
        (r#"{"format":"jpeg","progressive":true}"#, Format::Jpeg, 14),
        (r#"{"format":"png","compression":9}"#, Format::Png, 0),
        (r#"{"format":"webp","lossless":true}"#, Format::Webp, 0),
        (r#"{"format":"webp","quality":90}"#, Format::Webp, 12),
        (r#"{"format":"gif"}"#, Format::Gif, 12),
    ] {
        let out = run(&src, &format!(r#"{{"output":{json}}}"#));
        assert_eq!(out.format, format);
        assert_eq!(sniff(&out.bytes), Some(format), "{json}");
        check_halves(&out.bytes, tol, json);
        // The output decodes again through the engine itself.
        let again = run(&out.bytes, r#"{"output":{"format":"png"}}"#);
        check_halves(&again.bytes, tol, json);
    }
}

#[test]
fn default_output_keeps_the_input_format() {
    let px = rgb(64, 48, |x, _| halves(x));
    assert_eq!(run(&jpeg(64, 48, &px), "{}").format, Format::Jpeg);
    assert_eq!(
        run(&png(64, 48, &px, ExtendedColorType::Rgb8), "{}").format,
        Format::Png
    );
    let gif = inputs().into_iter().find(|i| i.0 == "gif").unwrap().1;
    assert_eq!(run(&gif, "{}").format, Format::Png);
}

/// RGBA: opaque red left half, fully transparent (black) right half.
fn alpha_png() -> Vec<u8> {
    let px = rgba(200, 100, |x, _| {
        if x < 100 {
            [255, 0, 0, 255]
        } else {
            [0, 0, 0, 0]
        }
    });
    png(200, 100, &px, ExtendedColorType::Rgba8)
}

#[test]
fn alpha_survives_resize_and_encode() {
    for output in [
        r#"{"format":"png"}"#,
        r#"{"format":"webp","lossless":true}"#,
        r#"{"format":"webp","quality":90}"#,
    ] {
        let out = run(
            &alpha_png(),
            &format!(r#"{{"ops":[{{"op":"resize","width":60}}],"output":{output}}}"#),
        );
        let img = decode(&out.bytes);
        assert_eq!(img.dimensions(), (60, 30), "{output}");
        assert_eq!(
            img.get_pixel(5, 15).0[3],
            255,
            "{output}: opaque side stays opaque"
        );
        assert_eq!(
            img.get_pixel(55, 15).0[3],
            0,
            "{output}: transparent side stays transparent"
        );
        // Premultiplied filtering: partly transparent edge pixels keep the colour red
        // instead of darkening towards the transparent black.
        for x in 27..33 {
            let p = img.get_pixel(x, 15).0;
            if p[3] > 40 {
                assert!(
                    p[0] > 200 && p[1] < 40,
                    "{output}: edge pixel x={x} is {p:?}"
                );
            }
        }
    }
}

#[test]
fn alpha_is_flattened_onto_the_background_for_jpeg() {
    let out = run(
        &alpha_png(),
        r##"{"output":{"format":"jpeg","background":"#0000ff"}}"##,
    );
    let img = decode(&out.bytes);
    assert!(close(img.get_pixel(20, 50).0, [255, 0, 0], 12));
    assert!(close(img.get_pixel(180, 50).0, [0, 0, 255], 12));
}

/// A CMYK JPEG written the way Photoshop does (Adobe marker, inverted values).
fn cmyk_jpeg(inks: &[[u8; 4]]) -> Vec<u8> {
    let w = 16 * inks.len();
    let px: Vec<u8> = (0..16)
        .flat_map(|_| (0..w).flat_map(|x| inks[x / 16].map(|v| 255 - v)))
        .collect();
    let mut c = turbojpeg::Compressor::new().unwrap();
    c.set_quality(95).unwrap();
    c.set_subsamp(turbojpeg::Subsamp::None).unwrap();
    c.compress_to_vec(turbojpeg::Image {
        pixels: px.as_slice(),
        width: w,
        pitch: w * 4,
        height: 16,
        format: turbojpeg::PixelFormat::CMYK,
    })
    .unwrap()
}

#[test]
fn cmyk_jpeg_colours() {
    let inks = [
        [255, 0, 0, 0],
        [0, 255, 255, 0],
        [0, 0, 0, 255],
        [0, 0, 0, 0],
        [0, 0, 255, 0],
    ];
    let want = [
        [0, 255, 255],
        [255, 0, 0],
        [0, 0, 0],
        [255, 255, 255],
        [255, 255, 0],
    ];
    let out = run(&cmyk_jpeg(&inks), r#"{"output":{"format":"png"}}"#);
    let img = decode(&out.bytes);
    for (i, w) in want.iter().enumerate() {
        let p = img.get_pixel(i as u32 * 16 + 8, 8).0;
        assert!(close(p, *w, 16), "ink {:?} gave {p:?}, want {w:?}", inks[i]);
    }
}

/// Adobe RGB (1998) → sRGB, computed from the published primaries and transfer curves.
fn adobe_to_srgb(c: [u8; 3]) -> [u8; 3] {
    let lin: Vec<f64> = c
        .iter()
        .map(|&v| (f64::from(v) / 255.0).powf(563.0 / 256.0))
        .collect();
    // Adobe RGB → XYZ (D65), then XYZ → linear sRGB.
    let m1 = [
        [0.5767309, 0.1855540, 0.1881852],
        [0.2973769, 0.6273491, 0.0752741],
        [0.0270343, 0.0706872, 0.9911085],
    ];
    let m2 = [
        [3.2404542, -1.5371385, -0.4985314],
        [-0.9692660, 1.8760108, 0.0415560],
        [0.0556434, -0.2040259, 1.0572252],
    ];
    let xyz: Vec<f64> = m1
        .iter()
        .map(|r| r[0] * lin[0] + r[1] * lin[1] + r[2] * lin[2])
        .collect();
    let s: Vec<f64> = m2
        .iter()
        .map(|r| r[0] * xyz[0] + r[1] * xyz[1] + r[2] * xyz[2])
        .collect();
    let enc = |v: f64| {
        let v = v.clamp(0.0, 1.0);
        let e = if v <= 0.0031308 {
            12.92 * v
        } else {
            1.055 * v.powf(1.0 / 2.4) - 0.055
        };
        (e * 255.0).round() as u8
    };
    [enc(s[0]), enc(s[1]), enc(s[2])]
}

#[test]
fn adobe_rgb_input_is_converted_to_srgb_and_profile_stripped() {
    let colour = [70, 170, 90];
    let px = rgb(32, 32, |_, _| colour);
    let mut bytes = Vec::new();
    let mut enc = image::codecs::png::PngEncoder::new(&mut bytes);
    let icc = moxcms::ColorProfile::new_adobe_rgb().encode().unwrap();
    image::ImageEncoder::set_icc_profile(&mut enc, icc).unwrap();
    image::ImageEncoder::write_image(enc, &px, 32, 32, ExtendedColorType::Rgb8).unwrap();
    let out = run(&bytes, r#"{"output":{"format":"png"}}"#);
    let got = decode(&out.bytes).get_pixel(16, 16).0;
    let want = adobe_to_srgb(colour);
    assert_ne!(
        want, colour,
        "the fixture colour differs between the two spaces"
    );
    assert!(close(got, want, 3), "got {got:?}, want {want:?}");
    assert!(
        !out.bytes.windows(4).any(|w| w == b"iCCP"),
        "profile stripped"
    );
}

#[test]
fn metadata_is_stripped_unless_copyright_is_kept() {
    let src = with_exif(
        &jpeg(32, 32, &rgb(32, 32, |_, _| [9, 9, 9])),
        &exif_tiff(Some(1), Some("(c) Jane Doe")),
    );
    let plain = run(&src, "{}");
    assert!(
        !plain.bytes.windows(6).any(|w| w == b"Exif\0\0"),
        "no EXIF by default"
    );
    for format in ["jpeg", "webp", "png"] {
        let kept = run(
            &src,
            &format!(r#"{{"output":{{"format":"{format}","keep_copyright":true}}}}"#),
        );
        assert!(
            kept.bytes.windows(12).any(|w| w == b"(c) Jane Doe"),
            "{format}: copyright kept"
        );
        decode(&kept.bytes);
    }
    let kept = run(&src, r#"{"output":{"keep_copyright":true}}"#);
    let tiff_at = kept
        .bytes
        .windows(6)
        .position(|w| w == b"Exif\0\0")
        .unwrap()
        + 6;
    let exif = exif::Reader::new()
        .read_raw(kept.bytes[tiff_at..].to_vec())
        .unwrap();
    let c = exif
        .get_field(exif::Tag::Copyright, exif::In::PRIMARY)
        .unwrap();
    assert!(c.display_value().to_string().contains("Jane Doe"));
    assert!(
        exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)
            .is_none(),
        "orientation dropped"
    );
}

/// Generation parameters travel inside the file: a PNG `parameters` iTXt chunk, and the
/// EXIF ImageDescription of JPEG and WebP, escaped so non-ASCII text reads back intact.
#[test]
fn parameters_are_embedded_and_read_back() {
    let pixels = image::RgbaImage::from_pixel(16, 8, image::Rgba([10, 200, 30, 255]));
    let params = r#"{"prompt":"café at dusk","seed":42}"#;
    let options = easel_image::OutputOptions::default();

    let png_bytes =
        easel_image::encode_rgba_with_parameters(&pixels, Format::Png, &options, params).unwrap();
    let decoder = ::png::Decoder::new(std::io::Cursor::new(&png_bytes));
    let reader = decoder.read_info().unwrap();
    let chunk = reader
        .info()
        .utf8_text
        .iter()
        .find(|c| c.keyword == "parameters")
        .expect("a parameters iTXt chunk");
    assert_eq!(chunk.get_text().unwrap(), params);

    for format in [Format::Jpeg, Format::Webp] {
        let bytes =
            easel_image::encode_rgba_with_parameters(&pixels, format, &options, params).unwrap();
        let exif = exif::Reader::new()
            .read_from_container(&mut std::io::Cursor::new(&bytes))
            .unwrap_or_else(|e| panic!("{format:?}: no EXIF: {e}"));
        let field = exif
            .get_field(exif::Tag::ImageDescription, exif::In::PRIMARY)
            .expect("ImageDescription");
        let exif::Value::Ascii(parts) = &field.value else {
            panic!("ImageDescription is not ASCII");
        };
        let text = String::from_utf8(parts[0].clone()).unwrap();
        let read: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(read["prompt"], "café at dusk", "{format:?}");
        assert_eq!(read["seed"], 42);
        // The pixels are still readable.
        let (_, decoded) =
            easel_image::decode_rgba(&bytes, &easel_image::Limits::default()).unwrap();
        assert_eq!(decoded.dimensions(), (16, 8));
    }
}
