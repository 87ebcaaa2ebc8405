//! Image formats and content sniffing. The format always comes from the bytes, never
//! from a file name or a client-supplied content type.

use serde::{Deserialize, Serialize};

use crate::heif_boxes::ftyp_format;

/// An image format Easel decodes and encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// JPEG (baseline, progressive, CMYK/YCCK on input).
    Jpeg,
    /// PNG (8/16-bit, palette, alpha on input; 8-bit RGB/RGBA on output).
    Png,
    /// WebP (lossy and lossless, with alpha).
    Webp,
    /// GIF (first frame on input; quantised single frame on output).
    Gif,
    /// HEIF with HEVC-coded images (`heic` brands, the iPhone's photo format); decode
    /// only.
    Heic,
    /// HEIF whose brands do not name the codec (`mif1`/`msf1` only); decode only.
    Heif,
    /// AVIF: HEIF with AV1-coded images (`avif`/`avis` brands); decode and encode.
    Avif,
}

impl Format {
    /// The IANA media type.
    pub fn mime(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
            Format::Gif => "image/gif",
            Format::Heic => "image/heic",
            Format::Heif => "image/heif",
            Format::Avif => "image/avif",
        }
    }

    /// The usual file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Gif => "gif",
            Format::Heic => "heic",
            Format::Heif => "heif",
            Format::Avif => "avif",
        }
    }

    /// True for the formats this build can write (HEIC and generic HEIF are read only:
    /// their HEVC encoder is not used).
    pub fn can_encode(self) -> bool {
        !matches!(self, Format::Heic | Format::Heif)
    }

    /// True when a file sniffed as `self` may be declared as the media type `mime`.
    /// HEIC and HEIF are one family: phones and browsers label the same file either way.
    pub fn matches_mime(self, mime: &str) -> bool {
        let heif_family = |f: Format| matches!(f, Format::Heic | Format::Heif);
        match Format::from_mime(mime) {
            Some(declared) => declared == self || (heif_family(declared) && heif_family(self)),
            None => false,
        }
    }

    /// Parses a media type (parameters such as `; charset=…` are ignored; `image/jpg`
    /// is accepted as the common misspelling).
    pub fn from_mime(s: &str) -> Option<Format> {
        let essence = s
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "image/jpeg" | "image/jpg" | "image/pjpeg" => Some(Format::Jpeg),
            "image/png" => Some(Format::Png),
            "image/webp" => Some(Format::Webp),
            "image/gif" => Some(Format::Gif),
            "image/heic" => Some(Format::Heic),
            "image/heif" => Some(Format::Heif),
            "image/avif" => Some(Format::Avif),
            _ => None,
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Gif => "gif",
            Format::Heic => "heic",
            Format::Heif => "heif",
            Format::Avif => "avif",
        })
    }
}

/// Identifies the format from its magic bytes alone (for HEIF and AVIF, the brands in
/// the opening `ftyp` box).
pub fn sniff(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Format::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Format::Png)
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(Format::Webp)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(Format::Gif)
    } else {
        ftyp_format(bytes)
    }
}

/// Names a few well-known formats this build does not decode, for a clearer error.
pub(crate) fn describe_unsupported(bytes: &[u8]) -> String {
    let known: &[(&[u8], usize, &str)] = &[
        (
            b"ftyp",
            4,
            "an ISO media file whose brands name no HEIF or AVIF image",
        ),
        (b"II*\0", 0, "TIFF is not supported"),
        (b"MM\0*", 0, "TIFF is not supported"),
        (b"BM", 0, "BMP is not supported"),
        (b"%PDF", 0, "PDF is not an image format"),
        (b"<svg", 0, "SVG is not supported"),
        (b"<?xml", 0, "SVG/XML is not supported"),
    ];
    for (magic, at, what) in known {
        if bytes.len() >= at + magic.len() && &bytes[*at..at + magic.len()] == *magic {
            return (*what).to_string();
        }
    }
    let head: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!(
        "not a JPEG, PNG, WebP, GIF, HEIC/HEIF or AVIF (first bytes: {})",
        head.join(" ")
    )
}
