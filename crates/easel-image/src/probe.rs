//! Header-only inspection: format and dimensions, read without decoding pixels, so that
//! limits can refuse a decompression bomb before anything large is allocated.

use serde::{Deserialize, Serialize};

use crate::error::ImageError;
use crate::format::{Format, describe_unsupported, sniff};
use crate::heif_boxes::primary_size;
use crate::jpeg_markers::JpegHeader;

/// What a header says about an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// The sniffed format.
    pub format: Format,
    /// Stored width in pixels: before EXIF orientation; for HEIF and AVIF, after the
    /// container's `clap` crop and `irot` rotation, which are part of the image.
    pub width: u32,
    /// Stored height in pixels (as for `width`).
    pub height: u32,
}

/// Reads format and dimensions from the header only.
pub fn probe(bytes: &[u8]) -> Result<ImageInfo, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::EmptyInput);
    }
    let format = sniff(bytes).ok_or_else(|| ImageError::UnsupportedFormat {
        reason: describe_unsupported(bytes),
    })?;
    let (width, height) = match format {
        Format::Jpeg => {
            let h = JpegHeader::parse(bytes)?;
            (h.width, h.height)
        }
        Format::Png => png_size(bytes)?,
        Format::Gif => gif_size(bytes)?,
        Format::Webp => webp_size(bytes)?,
        Format::Heic | Format::Heif | Format::Avif => primary_size(bytes)?,
    };
    if width == 0 || height == 0 {
        return Err(ImageError::corrupt(
            "probe",
            format!("{format} header says {width}x{height}"),
        ));
    }
    Ok(ImageInfo {
        format,
        width,
        height,
    })
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn le16(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 2)
        .map(|s| u32::from(u16::from_le_bytes([s[0], s[1]])))
}

fn le24(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 3)
        .map(|s| u32::from(s[0]) | u32::from(s[1]) << 8 | u32::from(s[2]) << 16)
}

fn truncated(format: &str) -> ImageError {
    ImageError::corrupt("probe", format!("{format} header is truncated"))
}

fn png_size(b: &[u8]) -> Result<(u32, u32), ImageError> {
    // Signature (8) + IHDR length (4) + "IHDR" (4) + width (4) + height (4).
    if b.get(12..16) != Some(b"IHDR") {
        return Err(if b.len() < 16 {
            truncated("PNG")
        } else {
            ImageError::corrupt("probe", "PNG does not start with an IHDR chunk")
        });
    }
    let w = be32(b, 16).ok_or_else(|| truncated("PNG"))?;
    let h = be32(b, 20).ok_or_else(|| truncated("PNG"))?;
    Ok((w, h))
}

fn gif_size(b: &[u8]) -> Result<(u32, u32), ImageError> {
    let w = le16(b, 6).ok_or_else(|| truncated("GIF"))?;
    let h = le16(b, 8).ok_or_else(|| truncated("GIF"))?;
    Ok((w, h))
}

fn webp_size(b: &[u8]) -> Result<(u32, u32), ImageError> {
    let chunk = b.get(12..16).ok_or_else(|| truncated("WebP"))?;
    match chunk {
        b"VP8X" => {
            let w = le24(b, 24).ok_or_else(|| truncated("WebP"))? + 1;
            let h = le24(b, 27).ok_or_else(|| truncated("WebP"))? + 1;
            Ok((w, h))
        }
        b"VP8L" => {
            let s = b.get(21..25).ok_or_else(|| truncated("WebP"))?;
            if b[20] != 0x2f {
                return Err(ImageError::corrupt("probe", "WebP VP8L signature is wrong"));
            }
            let bits = u32::from_le_bytes([s[0], s[1], s[2], s[3]]);
            Ok(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1))
        }
        b"VP8 " => {
            if b.get(23..26) != Some(&[0x9d, 0x01, 0x2a]) {
                return Err(ImageError::corrupt("probe", "WebP VP8 start code is wrong"));
            }
            let w = le16(b, 26).ok_or_else(|| truncated("WebP"))? & 0x3fff;
            let h = le16(b, 28).ok_or_else(|| truncated("WebP"))? & 0x3fff;
            Ok((w, h))
        }
        _ => Err(ImageError::corrupt(
            "probe",
            "WebP has no VP8, VP8L or VP8X chunk first",
        )),
    }
}
