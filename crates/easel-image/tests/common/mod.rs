//! Fixture builders shared by the integration tests. Every fixture is generated here;
//! no binary test files are checked in.
#![allow(dead_code)]

pub mod tools;

use easel_image::{Limits, Pipeline, process};

/// An RGB buffer whose pixel (x, y) is `f(x, y)`.
pub fn rgb(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
    let mut v = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            v.extend_from_slice(&f(x, y));
        }
    }
    v
}

/// An RGBA buffer whose pixel (x, y) is `f(x, y)`.
pub fn rgba(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 4]) -> Vec<u8> {
    let mut v = Vec::with_capacity((w * h * 4) as usize);
    for y in 0..h {
        for x in 0..w {
            v.extend_from_slice(&f(x, y));
        }
    }
    v
}

/// Baseline JPEG at quality 95 with 4:4:4 chroma, so colours survive.
pub fn jpeg(w: u32, h: u32, rgb: &[u8]) -> Vec<u8> {
    let image = turbojpeg::Image {
        pixels: rgb,
        width: w as usize,
        pitch: w as usize * 3,
        height: h as usize,
        format: turbojpeg::PixelFormat::RGB,
    };
    turbojpeg::compress(image, 95, turbojpeg::Subsamp::None)
        .unwrap()
        .to_vec()
}

/// Inserts an APP1 `Exif` segment right after SOI.
pub fn with_exif(jpeg: &[u8], tiff: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(tiff);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A little-endian TIFF/EXIF block with an optional orientation and copyright.
pub fn exif_tiff(orientation: Option<u16>, copyright: Option<&str>) -> Vec<u8> {
    let mut entries: Vec<[u8; 12]> = Vec::new();
    let count = usize::from(orientation.is_some()) + usize::from(copyright.is_some());
    let data_at = 8 + 2 + count * 12 + 4;
    let mut data = Vec::new();
    if let Some(o) = orientation {
        let mut e = [0u8; 12];
        e[0..2].copy_from_slice(&0x0112u16.to_le_bytes());
        e[2..4].copy_from_slice(&3u16.to_le_bytes()); // SHORT
        e[4..8].copy_from_slice(&1u32.to_le_bytes());
        e[8..10].copy_from_slice(&o.to_le_bytes());
        entries.push(e);
    }
    if let Some(c) = copyright {
        let mut bytes = c.as_bytes().to_vec();
        bytes.push(0);
        let mut e = [0u8; 12];
        e[0..2].copy_from_slice(&0x8298u16.to_le_bytes());
        e[2..4].copy_from_slice(&2u16.to_le_bytes()); // ASCII
        e[4..8].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
        e[8..12].copy_from_slice(&((data_at + data.len()) as u32).to_le_bytes());
        data.extend_from_slice(&bytes);
        entries.push(e);
    }
    let mut out = b"II*\0\x08\0\0\0".to_vec();
    out.extend_from_slice(&(count as u16).to_le_bytes());
    for e in entries {
        out.extend_from_slice(&e);
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&data);
    out
}

/// Encodes with the `image` crate (an independent encoder) as PNG.
pub fn png(w: u32, h: u32, data: &[u8], color: image::ExtendedColorType) -> Vec<u8> {
    let mut out = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut out),
        data,
        w,
        h,
        color,
    )
    .unwrap();
    out
}

/// Decodes any output to RGBA with independent decoders (libjpeg-turbo for JPEG,
/// the `image` crate otherwise).
pub fn decode(bytes: &[u8]) -> image::RgbaImage {
    if bytes.starts_with(&[0xFF, 0xD8]) {
        let img = turbojpeg::decompress(bytes, turbojpeg::PixelFormat::RGBA).unwrap();
        return image::RgbaImage::from_raw(img.width as u32, img.height as u32, img.pixels)
            .unwrap();
    }
    image::load_from_memory(bytes).unwrap().to_rgba8()
}

/// Parses a pipeline from JSON (panics on error: the tests' JSON is fixed).
pub fn pipeline(json: &str) -> Pipeline {
    serde_json::from_str(json).unwrap()
}

/// Runs `json` on `input` with default limits.
pub fn run(input: &[u8], json: &str) -> easel_image::Output {
    process(input, &pipeline(json), &Limits::default()).unwrap()
}

/// True when every channel of `a` is within `tol` of `b` (alpha ignored).
pub fn close(a: [u8; 4], b: [u8; 3], tol: u8) -> bool {
    (0..3).all(|i| a[i].abs_diff(b[i]) <= tol)
}

/// Bounding box (x0, y0, x1 exclusive, y1 exclusive) of pixels matching `pred`.
pub fn bbox(
    img: &image::RgbaImage,
    pred: impl Fn([u8; 4]) -> bool,
) -> Option<(u32, u32, u32, u32)> {
    let mut b: Option<(u32, u32, u32, u32)> = None;
    for (x, y, p) in img.enumerate_pixels() {
        if pred(p.0) {
            b = Some(match b {
                None => (x, y, x + 1, y + 1),
                Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1)),
            });
        }
    }
    b
}

/// Structural similarity of the luma of `a` and `b` (same size), averaged over 8×8
/// windows taken every 4 pixels: 1.0 for identical images, about 0.98 for a good
/// lossy encode of a photo.
pub fn ssim(a: &image::RgbaImage, b: &image::RgbaImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions(), "ssim needs equal sizes");
    let luma = |img: &image::RgbaImage| -> Vec<f64> {
        img.pixels()
            .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
            .collect()
    };
    let (la, lb) = (luma(a), luma(b));
    let (w, h) = (a.width() as usize, a.height() as usize);
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let mut total = 0.0;
    let mut windows = 0;
    for y0 in (0..h.saturating_sub(7)).step_by(4) {
        for x0 in (0..w.saturating_sub(7)).step_by(4) {
            let idx = |x: usize, y: usize| (y0 + y) * w + x0 + x;
            let n = 64.0;
            let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for y in 0..8 {
                for x in 0..8 {
                    let (va, vb) = (la[idx(x, y)], lb[idx(x, y)]);
                    sa += va;
                    sb += vb;
                    saa += va * va;
                    sbb += vb * vb;
                    sab += va * vb;
                }
            }
            let (ma, mb) = (sa / n, sb / n);
            let (va, vb, cov) = (saa / n - ma * ma, sbb / n - mb * mb, sab / n - ma * mb);
            total += ((2.0 * ma * mb + c1) * (2.0 * cov + c2))
                / ((ma * ma + mb * mb + c1) * (va + vb + c2));
            windows += 1;
        }
    }
    total / f64::from(windows)
}

/// A photo-like RGB test picture: a sky gradient, a sun disc with a soft edge, and
/// textured ground below the horizon, so that a codec has both flat areas and detail.
pub fn photo(w: u32, h: u32) -> Vec<u8> {
    rgb(w, h, |x, y| {
        let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
        if fy > 0.6 {
            let grain = ((x * 7 + y * 13) % 17) as f32 * 4.0 + ((x / 3 + y / 2) % 5) as f32 * 6.0;
            return [
                (60.0 + 80.0 * fx + grain) as u8,
                (110.0 + 40.0 * fy + grain) as u8,
                (40.0 + grain / 2.0) as u8,
            ];
        }
        let d = ((fx - 0.3).powi(2) + (fy - 0.3).powi(2)).sqrt();
        let sun = (1.0 - ((d - 0.12) / 0.03).clamp(0.0, 1.0)) * 200.0;
        [
            (50.0 + 120.0 * fx + sun * 0.3).min(255.0) as u8,
            (90.0 + 100.0 * fy + sun * 0.25).min(255.0) as u8,
            (230.0 - 120.0 * fy - sun * 0.4).max(0.0) as u8,
        ]
    })
}

/// Flips an RGBA image's alpha off (every pixel opaque), to compare colours only.
pub fn opaque(img: &image::RgbaImage) -> image::RgbaImage {
    let mut out = img.clone();
    out.pixels_mut().for_each(|p| p[3] = 255);
    out
}
