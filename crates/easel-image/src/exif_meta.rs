//! The little EXIF we care about: orientation (applied, then dropped) and the
//! copyright/artist tags (kept on request); plus a writer for a minimal EXIF block
//! carrying just those two tags.

use exif::{In, Reader, Tag, Value};

/// Metadata read from an input's EXIF block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExifMeta {
    /// EXIF orientation 1–8 (1 when absent or invalid).
    pub orientation: u16,
    /// The Copyright tag, if any.
    pub copyright: Option<String>,
    /// The Artist tag, if any.
    pub artist: Option<String>,
    /// Text to write as ImageDescription (JPEG/WebP EXIF) or a `parameters` text chunk
    /// (PNG): engines record the generation parameters here. Never read from inputs.
    pub description: Option<String>,
}

impl Default for ExifMeta {
    fn default() -> Self {
        ExifMeta {
            orientation: 1,
            copyright: None,
            artist: None,
            description: None,
        }
    }
}

impl ExifMeta {
    /// Parses a TIFF-structured EXIF payload; anything unreadable counts as absent.
    pub(crate) fn parse(tiff: &[u8]) -> ExifMeta {
        let Ok(exif) = Reader::new().read_raw(tiff.to_vec()) else {
            return ExifMeta::default();
        };
        let orientation = exif
            .get_field(Tag::Orientation, In::PRIMARY)
            .and_then(|f| f.value.get_uint(0))
            .filter(|o| (1..=8).contains(o))
            .unwrap_or(1) as u16;
        let ascii = |tag| {
            exif.get_field(tag, In::PRIMARY)
                .and_then(|f| match &f.value {
                    Value::Ascii(parts) => {
                        let s: Vec<String> = parts
                            .iter()
                            .map(|p| {
                                String::from_utf8_lossy(p)
                                    .trim_end_matches('\0')
                                    .to_string()
                            })
                            .filter(|p| !p.trim().is_empty())
                            .collect();
                        (!s.is_empty()).then(|| s.join("; "))
                    }
                    _ => None,
                })
        };
        ExifMeta {
            orientation,
            copyright: ascii(Tag::Copyright),
            artist: ascii(Tag::Artist),
            description: None,
        }
    }

    /// True when there is a copyright or artist to carry over.
    pub(crate) fn has_rights(&self) -> bool {
        self.copyright.is_some() || self.artist.is_some()
    }

    /// True when there is anything to write.
    pub(crate) fn has_output(&self) -> bool {
        self.has_rights() || self.description.is_some()
    }

    /// A big-endian TIFF block (without the `Exif\0\0` prefix) holding only the
    /// ImageDescription, Artist and Copyright tags (in tag order, as TIFF requires).
    /// EXIF ASCII cannot hold other characters: the description is escaped JSON-style
    /// (`\u00e9`), the others lose what is not ASCII.
    pub(crate) fn rights_tiff(&self) -> Vec<u8> {
        let description = self.description.as_deref().map(ascii_escape);
        let mut entries: Vec<(u16, Vec<u8>)> = Vec::new();
        for (tag, value) in [
            (0x010E_u16, &description),
            (0x013B, &self.artist),
            (0x8298, &self.copyright),
        ] {
            if let Some(v) = value {
                let mut bytes: Vec<u8> = v.bytes().filter(|b| b.is_ascii() && *b != 0).collect();
                bytes.push(0);
                entries.push((tag, bytes));
            }
        }
        let ifd_len = 2 + entries.len() * 12 + 4;
        let mut data_off = 8 + ifd_len;
        let mut out = b"MM\0\x2a\0\0\0\x08".to_vec();
        out.extend_from_slice(&(entries.len() as u16).to_be_bytes());
        let mut data = Vec::new();
        for (tag, bytes) in &entries {
            out.extend_from_slice(&tag.to_be_bytes());
            out.extend_from_slice(&2u16.to_be_bytes()); // ASCII
            out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            if bytes.len() <= 4 {
                let mut inline = bytes.clone();
                inline.resize(4, 0);
                out.extend_from_slice(&inline);
            } else {
                out.extend_from_slice(&(data_off as u32).to_be_bytes());
                data.extend_from_slice(bytes);
                data_off += bytes.len();
            }
        }
        out.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
        out.extend_from_slice(&data);
        out
    }
}

/// Escapes every character outside ASCII as `\uXXXX` (UTF-16 units, as JSON does), so
/// JSON text survives EXIF's ASCII type and reads back unchanged.
fn ascii_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() && c != '\0' {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}
