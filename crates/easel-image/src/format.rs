//! Image formats and content sniffing. The format always comes from the bytes, never
//! from a file name or a client-supplied content type.

use serde::{Deserialize, Serialize};

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
}

impl Format {
    /// The IANA media type.
    pub fn mime(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
            Format::Gif => "image/gif",
        }
    }

    /// The usual file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Gif => "gif",
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
        })
    }
}

/// Identifies the format from its magic bytes alone.
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
        None
    }
}

/// Names a few well-known formats this build does not decode, for a clearer error.
pub(crate) fn describe_unsupported(bytes: &[u8]) -> String {
    let known: &[(&[u8], usize, &str)] = &[
        (b"ftypavif", 4, "AVIF is not supported by this build"),
        (b"ftypavis", 4, "AVIF is not supported by this build"),
        (b"ftypheic", 4, "HEIC is not supported"),
        (b"ftypmif1", 4, "HEIF is not supported"),
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
        "not a JPEG, PNG, WebP or GIF (first bytes: {})",
        head.join(" ")
    )
}
