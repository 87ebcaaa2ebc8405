//! A JPEG marker walker: reads the segments before the first scan to find the frame
//! size, the EXIF block, the (possibly multi-chunk) ICC profile and Adobe's APP14
//! marker. It never touches entropy-coded data.

use crate::error::ImageError;

/// What the segments before the first scan tell us.
#[derive(Debug, Default)]
pub(crate) struct JpegHeader {
    /// Frame width from the SOF marker.
    pub width: u32,
    /// Frame height from the SOF marker.
    pub height: u32,
    /// Number of components in the frame (1 gray, 3 YCbCr/RGB, 4 CMYK/YCCK).
    pub components: u8,
    /// The TIFF payload of the `Exif\0\0` APP1 segment.
    pub exif: Option<Vec<u8>>,
    /// The reassembled ICC profile from `ICC_PROFILE` APP2 segments.
    pub icc: Option<Vec<u8>>,
    /// True when an Adobe APP14 segment is present: by Photoshop's convention its
    /// CMYK data is stored inverted.
    pub adobe: bool,
}

impl JpegHeader {
    /// Walks the markers up to the first SOS (or EOI).
    pub(crate) fn parse(b: &[u8]) -> Result<Self, ImageError> {
        let err = |reason: &str| ImageError::corrupt("probe", format!("JPEG {reason}"));
        if !b.starts_with(&[0xFF, 0xD8]) {
            return Err(err("does not start with SOI"));
        }
        let mut header = JpegHeader::default();
        let mut icc_chunks: Vec<(u8, &[u8])> = Vec::new();
        let mut pos = 2;
        let mut seen_frame = false;
        loop {
            // Skip fill bytes before a marker.
            while b.get(pos) == Some(&0xFF) && b.get(pos + 1) == Some(&0xFF) {
                pos += 1;
            }
            let (Some(&0xFF), Some(&marker)) = (b.get(pos), b.get(pos + 1)) else {
                return Err(err("header is truncated or has no frame marker"));
            };
            pos += 2;
            if marker == 0xD9 || marker == 0xDA {
                break;
            }
            if (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
                continue;
            }
            let len = b
                .get(pos..pos + 2)
                .map(|s| usize::from(u16::from_be_bytes([s[0], s[1]])))
                .ok_or_else(|| err("header is truncated"))?;
            if len < 2 {
                return Err(err("has a segment with an invalid length"));
            }
            let seg = b
                .get(pos + 2..pos + len)
                .ok_or_else(|| err("header is truncated inside a segment"))?;
            match marker {
                0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                    if seg.len() < 6 {
                        return Err(err("frame header is too short"));
                    }
                    header.height = u32::from(u16::from_be_bytes([seg[1], seg[2]]));
                    header.width = u32::from(u16::from_be_bytes([seg[3], seg[4]]));
                    header.components = seg[5];
                    seen_frame = true;
                }
                0xE1 if seg.starts_with(b"Exif\0\0") && header.exif.is_none() => {
                    header.exif = Some(seg[6..].to_vec());
                }
                0xE2 if seg.starts_with(b"ICC_PROFILE\0") && seg.len() > 14 => {
                    icc_chunks.push((seg[12], &seg[14..]));
                }
                0xEE if seg.starts_with(b"Adobe") => header.adobe = true,
                _ => {}
            }
            pos += len;
        }
        if !seen_frame {
            return Err(err("has no frame (SOF) marker before its first scan"));
        }
        if !icc_chunks.is_empty() {
            icc_chunks.sort_by_key(|(seq, _)| *seq);
            header.icc = Some(
                icc_chunks
                    .iter()
                    .flat_map(|(_, d)| d.iter().copied())
                    .collect(),
            );
        }
        Ok(header)
    }
}
