//! The few ISOBMFF boxes of a HEIF/AVIF file that sniffing and probing need, read in
//! Rust from the header alone: the `ftyp` brands (which format), and the primary
//! item's `ispe` size with its `irot` and `clap` (what the decoder will produce). No
//! codec is touched, so a file claiming 100 000 × 100 000 pixels costs a few box
//! headers to refuse, and a hostile header never reaches C++ code at upload time.

use crate::error::ImageError;
use crate::format::Format;
use crate::heif_items::check_coded_sizes;

/// Brands of HEVC-coded HEIF (`heic` family, ISO/IEC 23008-12 Annex B).
const HEVC_BRANDS: [&[u8; 4]; 6] = [b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"];
/// Brands of AV1-coded HEIF (AVIF specification, section 6).
const AV1_BRANDS: [&[u8; 4]; 2] = [b"avif", b"avis"];
/// Brands of generic HEIF whose codec the brand does not say.
const GENERIC_BRANDS: [&[u8; 4]; 2] = [b"mif1", b"msf1"];

/// The format named by the `ftyp` box that opens `bytes`, if it names one we decode.
///
/// The major brand decides when it is specific; otherwise the compatible brands do,
/// AV1 before HEVC (an AVIF file often lists `mif1` as its major brand). A file that
/// only says `mif1`/`msf1` is generic HEIF.
pub(crate) fn ftyp_format(bytes: &[u8]) -> Option<Format> {
    if bytes.get(4..8) != Some(b"ftyp") {
        return None;
    }
    let size = be32(bytes, 0)? as usize;
    let end = size.min(bytes.len());
    if size < 16 || end < 12 {
        return None;
    }
    let major = &bytes[8..12];
    let compatible = bytes.get(16..end).unwrap_or(&[]).chunks_exact(4);
    let named = |brands: &[&[u8; 4]]| {
        brands
            .iter()
            .any(|b| major == *b || compatible.clone().any(|c| c == *b))
    };
    if let Some(format) = specific(major) {
        return Some(format);
    }
    if named(&AV1_BRANDS) {
        Some(Format::Avif)
    } else if named(&HEVC_BRANDS) {
        Some(Format::Heic)
    } else if named(&GENERIC_BRANDS) {
        Some(Format::Heif)
    } else {
        None
    }
}

fn specific(brand: &[u8]) -> Option<Format> {
    if AV1_BRANDS.iter().any(|b| brand == *b) {
        Some(Format::Avif)
    } else if HEVC_BRANDS.iter().any(|b| brand == *b) {
        Some(Format::Heic)
    } else {
        None
    }
}

/// A property box from `ipco`: its type and body.
pub(crate) type Property<'a> = (&'a [u8; 4], &'a [u8]);

/// The `meta` box of a HEIF file, with what the size checks need from it.
pub(crate) struct Header<'a> {
    /// The whole file (items may live anywhere in it).
    pub file: &'a [u8],
    /// The `meta` box's children (after its FullBox version and flags).
    pub meta: &'a [u8],
    /// The primary item's id (`pitm`).
    pub primary: u32,
    /// `ipco`'s properties in order (ipma indices are 1-based into this).
    properties: Vec<Property<'a>>,
    /// `ipma`: each item's property indices.
    associations: Vec<(u32, Vec<usize>)>,
}

impl<'a> Header<'a> {
    /// Finds `meta`, `pitm`, `ipco` and `ipma`; a file cut short before them, or
    /// without them, is corrupt.
    pub(crate) fn parse(file: &'a [u8]) -> Result<Self, ImageError> {
        let meta = find(Boxes::new(file), b"meta").ok_or_else(|| missing("meta"))?;
        let meta = meta.get(4..).ok_or_else(truncated)?; // FullBox version and flags
        let pitm = find(Boxes::new(meta), b"pitm").ok_or_else(|| missing("pitm"))?;
        let iprp = find(Boxes::new(meta), b"iprp").ok_or_else(|| missing("iprp"))?;
        let ipco = find(Boxes::new(iprp), b"ipco").ok_or_else(|| missing("ipco"))?;
        let ipma = find(Boxes::new(iprp), b"ipma").ok_or_else(|| missing("ipma"))?;
        Ok(Header {
            file,
            meta,
            primary: primary_item(pitm)?,
            properties: Boxes::new(ipco).collect(),
            associations: associations(ipma)?,
        })
    }

    /// Ids of every item that has properties.
    pub(crate) fn items(&self) -> impl Iterator<Item = u32> + '_ {
        self.associations.iter().map(|(id, _)| *id)
    }

    /// The properties associated with `item`, in ipma order.
    pub(crate) fn properties_of(&self, item: u32) -> Result<Vec<Property<'a>>, ImageError> {
        let indices = self.associations.iter().filter(|(id, _)| *id == item);
        let mut found = Vec::new();
        for index in indices.flat_map(|(_, list)| list) {
            let Some(p) = index.checked_sub(1).and_then(|i| self.properties.get(i)) else {
                return Err(corrupt("ipma names a property that ipco does not have"));
            };
            found.push(*p);
        }
        Ok(found)
    }

    /// `item`'s declared (`ispe`) size, before any transform.
    pub(crate) fn declared_size(&self, item: u32) -> Result<Option<(u32, u32)>, ImageError> {
        let props = self.properties_of(item)?;
        props
            .iter()
            .find(|(kind, _)| *kind == b"ispe")
            .map(|(_, body)| ispe(body))
            .transpose()
    }
}

/// Width and height of the primary image as the decoder will deliver it: the `ispe`
/// size, swapped by a 90°/270° `irot`, reduced by a `clap` crop (rounded to whole
/// pixels). A file whose coded data is larger than it declares is refused
/// (see [`check_coded_sizes`]).
pub(crate) fn primary_size(bytes: &[u8]) -> Result<(u32, u32), ImageError> {
    let header = Header::parse(bytes)?;
    let (w, h) = header
        .declared_size(header.primary)?
        .ok_or_else(|| corrupt("the primary image has no ispe (size) property"))?;
    check_coded_sizes(&header)?;
    let mut quarter_turns = 0;
    let mut clap = None;
    for (kind, body) in header.properties_of(header.primary)? {
        match kind {
            b"irot" => quarter_turns = body.first().ok_or_else(truncated)? & 3,
            b"clap" => clap = Some(body),
            _ => {}
        }
    }
    let (w, h) = match clap {
        Some(body) => clean_aperture(body, w, h)?,
        None => (w, h),
    };
    Ok(if quarter_turns % 2 == 1 {
        (h, w)
    } else {
        (w, h)
    })
}

/// The item id in a `pitm` box (16-bit in version 0, 32-bit after).
fn primary_item(pitm: &[u8]) -> Result<u32, ImageError> {
    let id = if pitm.first() == Some(&0) {
        be16(pitm, 4)
    } else {
        be32(pitm, 4)
    };
    id.ok_or_else(truncated)
}

/// Every item's 1-based `ipco` indices from an `ipma` box.
fn associations(ipma: &[u8]) -> Result<Vec<(u32, Vec<usize>)>, ImageError> {
    let version = *ipma.first().ok_or_else(truncated)?;
    let step = if ipma.get(3).ok_or_else(truncated)? & 1 == 1 {
        2
    } else {
        1
    };
    let count = be32(ipma, 4).ok_or_else(truncated)?;
    let mut at = 8;
    let mut all = Vec::new();
    for _ in 0..count {
        let (id, len) = if version < 1 {
            (be16(ipma, at), 2)
        } else {
            (be32(ipma, at), 4)
        };
        at += len;
        let id = id.ok_or_else(truncated)?;
        let n = usize::from(*ipma.get(at).ok_or_else(truncated)?);
        at += 1;
        let entries = ipma.get(at..at + n * step).ok_or_else(truncated)?;
        at += n * step;
        let indices = entries.chunks_exact(step).map(|e| match e {
            [hi, lo] => usize::from(u16::from_be_bytes([*hi & 0x7f, *lo])),
            [b] => usize::from(b & 0x7f),
            _ => 0,
        });
        all.push((id, indices.collect()));
    }
    Ok(all)
}

fn ispe(body: &[u8]) -> Result<(u32, u32), ImageError> {
    let w = be32(body, 4).ok_or_else(truncated)?;
    let h = be32(body, 8).ok_or_else(truncated)?;
    Ok((w, h))
}

/// The clean aperture's width and height (`N/D` fractions, rounded), never larger
/// than the coded image.
fn clean_aperture(body: &[u8], w: u32, h: u32) -> Result<(u32, u32), ImageError> {
    let fraction = |at: usize| -> Result<u32, ImageError> {
        let n = be32(body, at).ok_or_else(truncated)?;
        let d = be32(body, at + 4).ok_or_else(truncated)?;
        if d == 0 {
            return Err(corrupt("clap has a zero denominator"));
        }
        Ok(((u64::from(n) + u64::from(d) / 2) / u64::from(d)) as u32)
    };
    let (cw, ch) = (fraction(0)?, fraction(8)?);
    if cw == 0 || ch == 0 {
        return Err(corrupt("clap crops the image to nothing"));
    }
    Ok((cw.min(w), ch.min(h)))
}

/// Iterates over the boxes laid end to end in `data`, yielding type and body. Stops at
/// the first box whose header or size does not fit (a truncated file ends the walk).
pub(crate) struct Boxes<'a> {
    data: &'a [u8],
}

impl<'a> Boxes<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Boxes { data }
    }
}

impl<'a> Iterator for Boxes<'a> {
    type Item = (&'a [u8; 4], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let d = self.data;
        let kind: &[u8; 4] = d.get(4..8)?.try_into().ok()?;
        let (header, size) = match be32(d, 0)? {
            0 => (8, d.len() as u64),
            1 => (16, be64(d, 8)?),
            n => (8, u64::from(n)),
        };
        let size = usize::try_from(size).ok().filter(|s| *s >= header)?;
        let body = d.get(header..size)?;
        self.data = &d[size..];
        Some((kind, body))
    }
}

/// The body of the first box of type `kind` among `boxes`.
pub(crate) fn find<'a>(mut boxes: Boxes<'a>, kind: &[u8; 4]) -> Option<&'a [u8]> {
    boxes.find(|(k, _)| *k == kind).map(|(_, body)| body)
}

pub(crate) fn be16(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 2)
        .map(|s| u32::from(u16::from_be_bytes([s[0], s[1]])))
}

pub(crate) fn be32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

pub(crate) fn be64(b: &[u8], at: usize) -> Option<u64> {
    let s: [u8; 8] = b.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_be_bytes(s))
}

pub(crate) fn corrupt(reason: &str) -> ImageError {
    ImageError::corrupt("probe", format!("HEIF: {reason}"))
}

fn truncated() -> ImageError {
    corrupt("a header box is truncated")
}

/// A box the header needs is absent; in a file cut short it was never reached.
fn missing(kind: &str) -> ImageError {
    corrupt(&format!("no {kind} box (truncated or not a still image)"))
}
