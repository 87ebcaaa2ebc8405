//! Encoding: JPEG (libjpeg-turbo), PNG (png crate), WebP (libwebp, lossy or
//! lossless), GIF (image crate), AVIF (libheif with libaom). Output carries no
//! metadata except, on request, the input's copyright and artist as a minimal EXIF
//! block, and the parameters an engine recorded (PNG `parameters` text chunk / EXIF
//! ImageDescription); pixels are sRGB.

mod avif;

use turbojpeg::{Compressor, Image, PixelFormat, Subsamp};

use crate::error::ImageError;
use crate::exif_meta::ExifMeta;
use crate::format::Format;
use crate::pipeline::OutputOptions;
use crate::raster::Raster;

/// Default JPEG quality.
pub(crate) const JPEG_QUALITY: u8 = 82;
/// Default lossy WebP quality.
pub(crate) const WEBP_QUALITY: u8 = 80;
/// Default PNG zlib level.
pub(crate) const PNG_LEVEL: u8 = 6;

/// Encodes `r` as `format`. `rights` is written when the caller asked to keep it.
pub(crate) fn encode(
    r: &Raster,
    format: Format,
    o: &OutputOptions,
    rights: Option<&ExifMeta>,
) -> Result<Vec<u8>, ImageError> {
    let exif = rights.filter(|m| m.has_output()).map(ExifMeta::rights_tiff);
    match format {
        Format::Jpeg => encode_jpeg(r, o, exif.as_deref()),
        Format::Png => encode_png(r, o, rights),
        Format::Webp => encode_webp(r, o, exif.as_deref()),
        Format::Gif => encode_gif(r),
        Format::Avif => avif::encode_avif(r, o, exif.as_deref()),
        // Refused by `Pipeline::validate`; reached only through `encode_rgba`.
        Format::Heic | Format::Heif => Err(ImageError::invalid(
            "output",
            format!("{format} is read only; write jpeg, png, webp, gif or avif"),
        )),
    }
}

fn encode_jpeg(r: &Raster, o: &OutputOptions, exif: Option<&[u8]>) -> Result<Vec<u8>, ImageError> {
    let flat;
    let r = if r.has_alpha() {
        flat = r.flatten(o.background.unwrap_or_default().0);
        &flat
    } else {
        r
    };
    let err = |e: turbojpeg::Error| ImageError::internal("encode", format!("JPEG: {e}"));
    let mut c = Compressor::new().map_err(err)?;
    c.set_quality(i32::from(o.quality.unwrap_or(JPEG_QUALITY)))
        .map_err(err)?;
    c.set_subsamp(Subsamp::Sub2x2).map_err(err)?;
    if o.progressive {
        c.set_progressive(true).map_err(err)?;
        c.set_optimize(true).map_err(err)?;
    }
    let image = Image {
        pixels: r.data.as_slice(),
        width: r.width as usize,
        pitch: r.width as usize * 3,
        height: r.height as usize,
        format: PixelFormat::RGB,
    };
    let bytes = c.compress_to_vec(image).map_err(err)?;
    Ok(match exif {
        Some(tiff) => insert_jpeg_exif(bytes, tiff),
        None => bytes,
    })
}

/// Inserts an `Exif` APP1 segment after SOI and the JFIF APP0 segment, if any.
fn insert_jpeg_exif(jpeg: Vec<u8>, tiff: &[u8]) -> Vec<u8> {
    let mut at = 2;
    if jpeg.get(2..4) == Some(&[0xFF, 0xE0]) {
        at += 2 + usize::from(u16::from_be_bytes([jpeg[4], jpeg[5]]));
    }
    let mut seg = vec![0xFF, 0xE1];
    seg.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
    seg.extend_from_slice(b"Exif\0\0");
    seg.extend_from_slice(tiff);
    let mut out = Vec::with_capacity(jpeg.len() + seg.len());
    out.extend_from_slice(&jpeg[..at]);
    out.extend_from_slice(&seg);
    out.extend_from_slice(&jpeg[at..]);
    out
}

fn encode_png(
    r: &Raster,
    o: &OutputOptions,
    rights: Option<&ExifMeta>,
) -> Result<Vec<u8>, ImageError> {
    let err = |e: png::EncodingError| ImageError::internal("encode", format!("PNG: {e}"));
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, r.width, r.height);
    enc.set_color(if r.has_alpha() {
        png::ColorType::Rgba
    } else {
        png::ColorType::Rgb
    });
    enc.set_depth(png::BitDepth::Eight);
    enc.set_deflate_compression(match o.compression.unwrap_or(PNG_LEVEL) {
        0 => png::DeflateCompression::NoCompression,
        level => png::DeflateCompression::Level(level),
    });
    if let Some(m) = rights {
        if let Some(c) = &m.copyright {
            enc.add_text_chunk("Copyright".into(), c.clone())
                .map_err(err)?;
        }
        if let Some(a) = &m.artist {
            enc.add_text_chunk("Author".into(), a.clone())
                .map_err(err)?;
        }
        if let Some(d) = &m.description {
            // iTXt: UTF-8, unlike tEXt's Latin-1.
            enc.add_itxt_chunk("parameters".into(), d.clone())
                .map_err(err)?;
        }
    }
    let mut writer = enc.write_header().map_err(err)?;
    writer.write_image_data(&r.data).map_err(err)?;
    writer.finish().map_err(err)?;
    Ok(out)
}

fn encode_webp(r: &Raster, o: &OutputOptions, exif: Option<&[u8]>) -> Result<Vec<u8>, ImageError> {
    // An alpha channel that is fully opaque only costs bytes.
    let opaque;
    let r = if r.has_alpha() && !r.uses_alpha() {
        opaque = r.flatten([0, 0, 0]);
        &opaque
    } else {
        r
    };
    let enc = if r.has_alpha() {
        webp::Encoder::from_rgba(&r.data, r.width, r.height)
    } else {
        webp::Encoder::from_rgb(&r.data, r.width, r.height)
    };
    let mem = if o.lossless {
        enc.encode_lossless()
    } else {
        enc.encode(f32::from(o.quality.unwrap_or(WEBP_QUALITY)))
    };
    if mem.is_empty() {
        return Err(ImageError::internal(
            "encode",
            "WebP: libwebp returned no data",
        ));
    }
    Ok(match exif {
        Some(tiff) => webp_with_exif(&mem, tiff, r.width, r.height, r.has_alpha()),
        None => mem.to_vec(),
    })
}

/// Rewrites a simple (VP8/VP8L) or extended (VP8X) WebP file to carry an EXIF chunk.
fn webp_with_exif(file: &[u8], tiff: &[u8], width: u32, height: u32, alpha: bool) -> Vec<u8> {
    let mut chunks = Vec::new();
    if &file[12..16] == b"VP8X" {
        chunks.extend_from_slice(&file[12..]);
        chunks[8] |= 0x08;
    } else {
        let mut vp8x = [0u8; 10];
        vp8x[0] = 0x08 | if alpha { 0x10 } else { 0 };
        vp8x[4..7].copy_from_slice(&(width - 1).to_le_bytes()[..3]);
        vp8x[7..10].copy_from_slice(&(height - 1).to_le_bytes()[..3]);
        chunks.extend_from_slice(b"VP8X");
        chunks.extend_from_slice(&10u32.to_le_bytes());
        chunks.extend_from_slice(&vp8x);
        chunks.extend_from_slice(&file[12..]);
    }
    chunks.extend_from_slice(b"EXIF");
    chunks.extend_from_slice(&(tiff.len() as u32).to_le_bytes());
    chunks.extend_from_slice(tiff);
    if tiff.len() % 2 == 1 {
        chunks.push(0);
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&((4 + chunks.len()) as u32).to_le_bytes());
    out.extend_from_slice(b"WEBP");
    out.extend_from_slice(&chunks);
    out
}

fn encode_gif(r: &Raster) -> Result<Vec<u8>, ImageError> {
    let rgba = r.to_rgba();
    let mut out = Vec::new();
    image::codecs::gif::GifEncoder::new(&mut out)
        .encode(
            &rgba.data,
            r.width,
            r.height,
            image::ExtendedColorType::Rgba8,
        )
        .map_err(|e| ImageError::internal("encode", format!("GIF: {e}")))?;
    Ok(out)
}
