//! HEIC and AVIF made at test time by the reference encoders (`heif-enc`, `avifenc`)
//! from a real photo, decoded by Easel and compared with the JPEG path on the same
//! pixels: plain, with EXIF orientation, with an alpha channel, at 10 bits and in
//! Display P3 (ICC profile and `nclx`). Dimensions must match exactly and the luma
//! SSIM be at least 0.98. Also: progressive photos shrunk on load at 1/8, where Easel
//! leaves out AC scans, come out exactly as libjpeg-turbo decodes the whole file.
//!
//! The photos come from Debian's `mate-backgrounds` (photographs as JPEG under
//! /usr/share/backgrounds/mate/nature, installed by `scripts/install-deps`), so the
//! tests need no network and no checked-in binary. Each is first scaled to fit
//! 480×480 by the JPEG path itself, which keeps the encoders' time small.

mod common;

use common::tools::{avifenc, box_body, file_arg, heif_enc};
use common::{decode, exif_tiff, jpeg, opaque, png, run, ssim, with_exif};
use easel_image::{Limits, decode_rgba};
use image::{ExtendedColorType, GrayImage, RgbaImage};

/// Real photos: 2560×1600 4:2:0 baseline and 1920×1280 4:2:2 baseline.
const PHOTOS: [&str; 2] = [
    "/usr/share/backgrounds/mate/nature/LadyBird.jpg",
    "/usr/share/backgrounds/mate/nature/Storm.jpg",
];

/// The encoders' settings: good quality, fast presets.
const HEIC_ARGS: [&str; 4] = ["-q", "90", "-p", "preset=fast"];
const AVIF_ARGS: [&str; 6] = ["-s", "8", "--min", "0", "--max", "16"];

const MIN_SSIM: f64 = 0.98;

/// A real photo's pixels at test size.
struct Photo {
    name: &'static str,
    w: u32,
    h: u32,
    rgb: Vec<u8>,
}

fn photos() -> Vec<Photo> {
    PHOTOS
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path).unwrap_or_else(|e| {
                panic!("{path}: {e}; run scripts/install-deps (Debian's mate-backgrounds)")
            });
            let fit =
                r#"{"ops":[{"op":"resize","width":480,"height":480}],"output":{"format":"png"}}"#;
            let out = run(&bytes, fit);
            let rgb = decode(&out.bytes)
                .pixels()
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect();
            Photo {
                name: path.rsplit('/').next().unwrap(),
                w: out.width,
                h: out.height,
                rgb,
            }
        })
        .collect()
}

impl Photo {
    fn png(&self) -> Vec<u8> {
        png(self.w, self.h, &self.rgb, ExtendedColorType::Rgb8)
    }

    /// The JPEG path: the pixels as a quality-95 JPEG, decoded by Easel.
    fn via_jpeg(&self, exif: Option<&[u8]>) -> RgbaImage {
        let file = jpeg(self.w, self.h, &self.rgb);
        let file = match exif {
            Some(tiff) => with_exif(&file, tiff),
            None => file,
        };
        decoded(&file)
    }
}

fn decoded(bytes: &[u8]) -> RgbaImage {
    decode_rgba(bytes, &Limits::default()).unwrap().1
}

/// Same dimensions as the JPEG path and a luma SSIM of at least [`MIN_SSIM`].
fn assert_like(got: &RgbaImage, want: &RgbaImage, what: &str) {
    assert_eq!(got.dimensions(), want.dimensions(), "{what}: dimensions");
    let score = ssim(&opaque(got), want);
    assert!(score >= MIN_SSIM, "{what}: SSIM {score:.4}");
}

#[test]
fn real_photos_decode_from_heic_and_avif_like_from_jpeg() {
    for p in photos() {
        let want = p.via_jpeg(None);
        let heic = heif_enc(&p.png(), &HEIC_ARGS);
        assert_like(&decoded(&heic), &want, &format!("{} heic", p.name));
        let avif = avifenc(&p.png(), &AVIF_ARGS);
        assert_like(&decoded(&avif), &want, &format!("{} avif", p.name));
        // Through the whole pipeline too: HEIC becomes JPEG, AVIF stays AVIF.
        let out = run(&heic, r#"{"output":{"format":"png"}}"#);
        assert_like(
            &decode(&out.bytes),
            &want,
            &format!("{} heic process", p.name),
        );
    }
}

#[test]
fn exif_orientation_turns_a_real_photo_as_the_jpeg_path_does() {
    let p = &photos()[0];
    let dir = tempfile::tempdir().unwrap();
    for orientation in 2..=8u16 {
        let tiff = exif_tiff(Some(orientation), None);
        let want = p.via_jpeg(Some(&tiff));
        // avifenc turns the tag into irot/imir and keeps it, as iPhones do; Easel
        // applies the boxes only, so the picture is turned once.
        let exif = file_arg(&dir, "exif.tiff", &tiff);
        let args = [&AVIF_ARGS[..], &["--exif", &exif]].concat();
        let avif = avifenc(&p.png(), &args);
        assert!(avif.windows(4).any(|w| w == b"Exif"), "EXIF kept");
        assert_like(
            &decoded(&avif),
            &want,
            &format!("avif orientation {orientation}"),
        );
    }
    // heif-enc 1.15 copies a JPEG's tag and writes no irot: the HEIC shows the stored
    // layout (as browsers and libvips do), which is the JPEG path without auto-orient.
    let tagged = with_exif(&jpeg(p.w, p.h, &p.rgb), &exif_tiff(Some(6), None));
    let heic = heif_enc(&tagged, &HEIC_ARGS);
    assert!(box_body(&heic, b"irot").is_none());
    let out = run(&heic, r#"{"output":{"format":"png"}}"#);
    assert_like(
        &decode(&out.bytes),
        &p.via_jpeg(None),
        "heic with orientation 6",
    );
}

#[test]
fn alpha_of_a_real_photo_survives_heic_and_avif() {
    let p = &photos()[1];
    // A left-to-right fade from opaque to alpha 96.
    let alpha = |x: u32| 255 - (159 * x / (p.w - 1)) as u8;
    let mut rgba = Vec::with_capacity(p.rgb.len() / 3 * 4);
    for (i, c) in p.rgb.chunks_exact(3).enumerate() {
        rgba.extend_from_slice(&[c[0], c[1], c[2], alpha(i as u32 % p.w)]);
    }
    let src = png(p.w, p.h, &rgba, ExtendedColorType::Rgba8);
    let want_alpha = GrayImage::from_fn(p.w, p.h, |x, _| image::Luma([alpha(x)]));
    let want = p.via_jpeg(None);
    for (what, file) in [
        ("heic", heif_enc(&src, &HEIC_ARGS)),
        ("avif", avifenc(&src, &AVIF_ARGS)),
    ] {
        let img = decoded(&file);
        assert_like(&img, &want, what);
        let got_alpha = GrayImage::from_fn(p.w, p.h, |x, y| image::Luma([img.get_pixel(x, y)[3]]));
        let worst = got_alpha
            .pixels()
            .zip(want_alpha.pixels())
            .map(|(a, b)| a[0].abs_diff(b[0]))
            .max()
            .unwrap();
        assert!(worst <= 8, "{what}: alpha off by up to {worst}");
    }
}

#[test]
fn ten_bit_heic_and_avif_of_a_real_photo_decode_like_the_jpeg_path() {
    for p in photos() {
        let want = p.via_jpeg(None);
        // heif-enc writes 10 bits from a 16-bit PNG; avifenc from any input.
        let wide: Vec<u16> = p.rgb.iter().map(|&v| u16::from(v) * 257).collect();
        let png16 = png(p.w, p.h, &ne_bytes(&wide), ExtendedColorType::Rgb16);
        let heic = heif_enc(&png16, &[&HEIC_ARGS[..], &["-b", "10"]].concat());
        let avif = avifenc(&p.png(), &[&AVIF_ARGS[..], &["-d", "10"]].concat());
        assert_eq!(
            box_body(&avif, b"pixi").map(|b| b[5]),
            Some(10),
            "10-bit AVIF"
        );
        for (what, file) in [("heic", heic), ("avif", avif)] {
            assert_like(&decoded(&file), &want, &format!("{} 10-bit {what}", p.name));
        }
    }
}

/// The `image` crate's PNG encoder takes 16-bit samples in native byte order.
fn ne_bytes(samples: &[u16]) -> Vec<u8> {
    samples.iter().flat_map(|v| v.to_ne_bytes()).collect()
}

#[test]
fn display_p3_real_photo_decodes_to_the_srgb_of_the_jpeg_path() {
    let p = &photos()[0];
    let want = p.via_jpeg(None);
    let p3: Vec<u8> = p
        .rgb
        .chunks_exact(3)
        .flat_map(|c| srgb_to_p3([c[0], c[1], c[2]]))
        .collect();
    let p3_png = png(p.w, p.h, &p3, ExtendedColorType::Rgb8);
    let dir = tempfile::tempdir().unwrap();
    let icc_bytes = moxcms::ColorProfile::new_display_p3().encode().unwrap();
    let icc = file_arg(&dir, "p3.icc", &icc_bytes);
    // No HEIC with P3 `nclx`: heif-enc 1.15 writes no `colr` box for a PNG, whatever
    // its --colour_primaries says (tests/heif.rs covers `nclx` through avifenc).
    let cases = [
        (
            "avif icc",
            avifenc(&p3_png, &[&AVIF_ARGS[..], &["--icc", &icc]].concat()),
        ),
        (
            "avif nclx",
            avifenc(&p3_png, &[&AVIF_ARGS[..], &["--cicp", "12/13/6"]].concat()),
        ),
        (
            "heic icc",
            heif_enc(&with_icc(&jpeg(p.w, p.h, &p3), &icc_bytes), &HEIC_ARGS),
        ),
    ];
    // Read as sRGB, the P3 pixels are duller: colour (not luma SSIM) tells them apart.
    let untagged = mean_difference(&decoded(&p3_png), &want);
    for (what, file) in cases {
        let img = decoded(&file);
        assert_like(&img, &want, what);
        let off = mean_difference(&img, &want);
        assert!(
            off * 3.0 < untagged,
            "{what}: colours off by {off:.2} on average (untagged {untagged:.2})"
        );
    }
}

/// Mean absolute difference over the colour channels of two same-size images.
fn mean_difference(a: &RgbaImage, b: &RgbaImage) -> f64 {
    let sum: u64 = a
        .pixels()
        .zip(b.pixels())
        .flat_map(|(p, q)| (0..3).map(move |i| u64::from(p[i].abs_diff(q[i]))))
        .sum();
    sum as f64 / (3 * a.width() * a.height()) as f64
}

/// Inserts `icc` as an APP2 `ICC_PROFILE` segment (heif-enc 1.15 carries a JPEG's
/// profile, not a PNG's).
fn with_icc(jpeg: &[u8], icc: &[u8]) -> Vec<u8> {
    let mut seg = vec![0xFF, 0xE2];
    seg.extend_from_slice(&((2 + 14 + icc.len()) as u16).to_be_bytes());
    seg.extend_from_slice(b"ICC_PROFILE\0\x01\x01");
    seg.extend_from_slice(icc);
    [&jpeg[..2], &seg, &jpeg[2..]].concat()
}

/// sRGB → Display P3 (both D65 with the sRGB curve), computed independently of moxcms.
fn srgb_to_p3(c: [u8; 3]) -> [u8; 3] {
    let lin = |v: u8| {
        let v = f64::from(v) / 255.0;
        if v <= 0.04045 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    let l = [lin(c[0]), lin(c[1]), lin(c[2])];
    // Linear sRGB → linear Display P3.
    let m = [
        [0.822_462_1, 0.177_538_0, 0.0],
        [0.033_194_2, 0.966_805_8, 0.0],
        [0.017_082_7, 0.072_397_4, 0.910_519_9],
    ];
    let enc = |v: f64| {
        let v = v.clamp(0.0, 1.0);
        let e = if v <= 0.003_130_8 {
            12.92 * v
        } else {
            1.055 * v.powf(1.0 / 2.4) - 0.055
        };
        (e * 255.0).round() as u8
    };
    let row = |r: [f64; 3]| enc(r[0] * l[0] + r[1] * l[1] + r[2] * l[2]);
    [row(m[0]), row(m[1]), row(m[2])]
}

/// Progressive photos (4:4:4 and 4:2:0) whose sides divide by 8.
const PROGRESSIVE: [(&str, u32, u32); 2] = [
    (
        "/usr/share/backgrounds/mate/abstract/Elephants.jpg",
        1920,
        1080,
    ),
    (
        "/usr/share/backgrounds/mate/nature/GreenMeadow.jpg",
        1280,
        1024,
    ),
];

#[test]
fn progressive_photos_at_one_eighth_match_a_whole_file_decode_exactly() {
    for (path, w, h) in PROGRESSIVE {
        let bytes = std::fs::read(path).unwrap_or_else(|e| {
            panic!("{path}: {e}; run scripts/install-deps (Debian's mate-backgrounds)")
        });
        // Fit to exactly 1/8: the DCT-scaled decode is the output, no resampling.
        let fit = format!(
            r#"{{"ops":[{{"op":"resize","width":{},"height":{}}}],"output":{{"format":"png"}}}}"#,
            w / 8,
            h / 8
        );
        let got = decode(&run(&bytes, &fit).bytes);
        let mut d = turbojpeg::Decompressor::new().unwrap();
        let header = d.read_header(&bytes).unwrap();
        assert!(header.is_progressive, "{path} is progressive");
        d.set_scaling_factor(turbojpeg::ScalingFactor::ONE_EIGHTH)
            .unwrap();
        let mut want = turbojpeg::Image {
            pixels: vec![0u8; (w / 8 * h / 8 * 4) as usize],
            width: (w / 8) as usize,
            pitch: (w / 8 * 4) as usize,
            height: (h / 8) as usize,
            format: turbojpeg::PixelFormat::RGBA,
        };
        d.decompress(&bytes, want.as_deref_mut()).unwrap();
        assert_eq!(got.dimensions(), (w / 8, h / 8), "{path}");
        assert!(got.as_raw() == &want.pixels, "{path}: pixels differ");
    }
}
