//! A HEIF file must not code more pixels than it declares. libheif 1.15 allocates a
//! coded image at the size in its HEVC/AV1 headers and a grid at the size in its
//! payload, whatever `ispe` says, so a file declaring 32×32 would pass the pixel limit
//! and then decode 30 000×30 000. These checks compare each of those sizes with the
//! declared one without decoding, and call a file that disagrees corrupt.

use crate::error::ImageError;
use crate::heif_boxes::{Boxes, Header, be16, be32, be64, corrupt, find};
use crate::heif_coded::{av1_size, grid_size, hevc_size};

/// How far a coded size may exceed the declared one: HEVC pads to whole coding blocks
/// (8 pixels) and crops back later. 64 pixels a side cannot turn a small image into a
/// large one.
const SLACK: u32 = 64;

/// Checks every item's coded size (HEVC SPS in `hvcC`; AV1 sequence header in `av1C`
/// or at the start of the item's data) against its own `ispe` (or the primary
/// image's when it has none), and a primary grid's canvas against the grid's `ispe`.
/// A header this parser cannot read is left to libheif.
pub(crate) fn check_coded_sizes(header: &Header) -> Result<(), ImageError> {
    let primary = header
        .declared_size(header.primary)?
        .ok_or_else(|| corrupt("the primary image has no ispe (size) property"))?;
    for item in header.items() {
        let declared = header.declared_size(item)?.unwrap_or(primary);
        for (kind, body) in header.properties_of(item)? {
            let coded = match kind {
                b"hvcC" => hevc_size(body),
                b"av1C" => body
                    .get(4..)
                    .and_then(av1_size)
                    .or_else(|| item_data(header.file, header.meta, item).and_then(av1_size)),
                _ => None,
            };
            if let Some(coded) = coded {
                fits(coded, declared, "coded")?;
            }
        }
    }
    if item_type(header.meta, header.primary) == Some(*b"grid") {
        let payload = item_data(header.file, header.meta, header.primary);
        if let Some(canvas) = payload.and_then(grid_size) {
            fits(canvas, primary, "grid canvas")?;
        }
    }
    Ok(())
}

fn fits(actual: (u32, u32), declared: (u32, u32), what: &str) -> Result<(), ImageError> {
    let over = |a: u32, d: u32| a > d.saturating_add(SLACK);
    if over(actual.0, declared.0) || over(actual.1, declared.1) {
        return Err(corrupt(&format!(
            "{what} size {}x{} is larger than the declared {}x{}",
            actual.0, actual.1, declared.0, declared.1
        )));
    }
    Ok(())
}

/// `item`'s four-character type from its `infe` entry (versions 2 and 3).
fn item_type(meta: &[u8], item: u32) -> Option<[u8; 4]> {
    let iinf = find(Boxes::new(meta), b"iinf")?;
    let entries = iinf.get(if iinf.first()? == &0 { 6 } else { 8 }..)?;
    for (kind, infe) in Boxes::new(entries) {
        let (id, at) = match (kind, infe.first()) {
            (b"infe", Some(2)) => (be16(infe, 4)?, 6),
            (b"infe", Some(3)) => (be32(infe, 4)?, 8),
            _ => continue,
        };
        if id == item {
            return infe.get(at + 2..at + 6)?.try_into().ok();
        }
    }
    None
}

/// The bytes of `item`'s first extent, located by `iloc` in the file (construction
/// method 0) or in `idat` (method 1).
fn item_data<'a>(file: &'a [u8], meta: &'a [u8], item: u32) -> Option<&'a [u8]> {
    let iloc = find(Boxes::new(meta), b"iloc")?;
    let version = *iloc.first()?;
    let (sizes, more) = (*iloc.get(4)?, *iloc.get(5)?);
    let (offset_size, length_size) = (sizes >> 4, sizes & 15);
    let (base_size, index_size) = (more >> 4, if version >= 1 { more & 15 } else { 0 });
    let mut r = Reader { data: iloc, at: 6 };
    let count = if version < 2 { r.n(2)? } else { r.n(4)? };
    for _ in 0..count {
        let id = if version < 2 { r.n(2)? } else { r.n(4)? };
        let method = if version >= 1 { r.n(2)? & 15 } else { 0 };
        r.n(2)?; // data_reference_index
        let base = r.n(base_size)?;
        let extents = r.n(2)?;
        let mut first = None;
        for _ in 0..extents {
            r.n(index_size)?;
            let extent = (r.n(offset_size)?, r.n(length_size)?);
            first.get_or_insert(extent);
        }
        if id != u64::from(item) {
            continue;
        }
        let source = match method {
            0 => file,
            1 => find(Boxes::new(meta), b"idat")?,
            _ => return None,
        };
        let (offset, length) = first?;
        let start = usize::try_from(base.checked_add(offset)?).ok()?;
        let end = start.checked_add(usize::try_from(length).ok()?)?;
        return source.get(start..end);
    }
    None
}

/// Big-endian fields of 0, 2, 4 or 8 bytes, as `iloc` sizes them.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn n(&mut self, bytes: u8) -> Option<u64> {
        let at = self.at;
        self.at += usize::from(bytes);
        match bytes {
            0 => Some(0),
            2 => be16(self.data, at).map(u64::from),
            4 => be32(self.data, at).map(u64::from),
            8 => be64(self.data, at),
            _ => None,
        }
    }
}
