//! Shrink-on-load for progressive JPEGs at 1/8 scale. libjpeg-turbo then computes each
//! output pixel of a component with a 1×1 IDCT, which reads only the block's DC
//! coefficient, yet it still Huffman-decodes every AC scan, most of the work for a
//! large progressive photo (the refinement scans alone were 40 % of the benchmark's
//! time). [`for_eighth_scale`] writes a copy of the file without the AC scans of those
//! components, so libjpeg-turbo never reads them.
//!
//! The decoded pixels stay exactly those of the original: a dropped scan only carried
//! coefficients the 1×1 IDCT ignores. One thing must be kept the same for that: after
//! the last scan libjpeg-turbo runs block smoothing (which also changes DC values when
//! no AC scan was seen) on any component whose first AC coefficients are not fully
//! known. So the copy ends with one synthetic scan per trimmed component that codes its
//! AC coefficients 1–63 as zero at full precision (a few bytes of end-of-band runs),
//! leaving the decoder's coefficient state as the original's complete progression did.

/// Marker bytes (the second byte after 0xFF).
const SOF2: u8 = 0xC2;
const DHT: u8 = 0xC4;
const SOS: u8 = 0xDA;
const EOI: u8 = 0xD9;

/// AC coefficients that decide whether libjpeg-turbo smooths a component
/// (`SAVED_COEFS` in jdcoefct.c, DC excluded).
const SMOOTHING_COEFS: std::ops::RangeInclusive<usize> = 1..=9;

/// One frame component from the SOF2 header.
#[derive(Debug, Clone, Copy)]
struct Component {
    id: u8,
    h: u32,
    v: u32,
    /// True when libjpeg-turbo's 1/8-scale decode reads only its DC coefficients.
    dc_only: bool,
    /// Successive-approximation bit position of each coefficient after the scans seen
    /// so far (-1: none yet), as libjpeg-turbo's `coef_bits` tracks it.
    coef_bits: [i8; 64],
    /// Whether an AC scan of this component was left out.
    trimmed: bool,
}

/// A copy of `jpeg` for a decode at 1/8 scale without the AC scans that decode cannot
/// use; `None` when the file is not an 8-bit Huffman progressive JPEG, nothing can be
/// dropped, it has more than `max_scans` scans, or anything about it is unusual (the
/// caller then decodes the original, which reports any damage and applies the scan
/// limit, so a file is refused or accepted the same with or without trimming).
pub(super) fn for_eighth_scale(jpeg: &[u8], max_scans: u32) -> Option<Vec<u8>> {
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut out = Vec::with_capacity(jpeg.len() / 4);
    out.extend_from_slice(&jpeg[..2]);
    let mut frame: Option<(u32, u32, Vec<Component>)> = None;
    let mut pos = 2;
    let mut scans = 0u32;
    loop {
        while jpeg.get(pos) == Some(&0xFF) && jpeg.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        let (&0xFF, &marker) = (jpeg.get(pos)?, jpeg.get(pos + 1)?) else {
            return None;
        };
        if marker == EOI {
            break;
        }
        // Markers without a length (SOI, RSTn, TEM) do not belong here.
        if matches!(marker, 0xD0..=0xD8 | 0x01) {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([
            *jpeg.get(pos + 2)?,
            *jpeg.get(pos + 3)?,
        ]));
        if len < 2 {
            return None;
        }
        let seg = jpeg.get(pos + 4..pos + 2 + len)?;
        match marker {
            SOF2 => frame = Some(parse_frame(seg)?),
            // Any other frame type: baseline files interleave DC and AC in one scan,
            // arithmetic coding is rare; neither is trimmed.
            0xC0..=0xCF if !matches!(marker, DHT | 0xC8 | 0xCC) => return None,
            _ => {}
        }
        if marker != SOS {
            out.extend_from_slice(&jpeg[pos..pos + 2 + len]);
            pos += 2 + len;
            continue;
        }
        scans += 1;
        if scans > max_scans {
            return None;
        }
        let (_, _, components) = frame.as_mut()?;
        let end = scan_end(jpeg, pos + 2 + len)?;
        if keep_scan(seg, components)? {
            out.extend_from_slice(&jpeg[pos..end]);
        }
        pos = end;
    }
    let (width, height, components) = frame?;
    if !components.iter().any(|c| c.trimmed) {
        return None;
    }
    append_zero_ac_scans(&mut out, width, height, &components)?;
    out.extend_from_slice(&[0xFF, EOI]);
    Some(out)
}

/// Reads an SOF2 segment: 8-bit samples, 1 to 4 components with sampling factors 1–4.
fn parse_frame(seg: &[u8]) -> Option<(u32, u32, Vec<Component>)> {
    let (&precision, rest) = seg.split_first()?;
    let height = u32::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
    let width = u32::from(u16::from_be_bytes([*rest.get(2)?, *rest.get(3)?]));
    let count = usize::from(*rest.get(4)?);
    let specs = rest.get(5..5 + 3 * count)?;
    if precision != 8 || width == 0 || height == 0 || !(1..=4).contains(&count) {
        return None;
    }
    let mut components: Vec<Component> = specs
        .chunks_exact(3)
        .map(|s| Component {
            id: s[0],
            h: u32::from(s[1] >> 4),
            v: u32::from(s[1] & 15),
            dc_only: false,
            coef_bits: [-1; 64],
            trimmed: false,
        })
        .collect();
    let bad_factor = |c: &Component| !(1..=4).contains(&c.h) || !(1..=4).contains(&c.v);
    // Repeated ids would make the scans' component references ambiguous.
    let repeated = |(i, c): (usize, &Component)| components[..i].iter().any(|d| d.id == c.id);
    if components.iter().any(bad_factor) || components.iter().enumerate().any(repeated) {
        return None;
    }
    let max_h = components.iter().map(|c| c.h).max()?;
    let max_v = components.iter().map(|c| c.v).max()?;
    for c in &mut components {
        c.dc_only = idct_size_at_eighth(c.h, c.v, max_h, max_v) == 1;
    }
    Some((width, height, components))
}

/// The IDCT size libjpeg-turbo picks for a component at 1/8 scale (jdmaster.c): it
/// scales subsampled chroma up through the IDCT where the factors allow, so 4:2:0
/// chroma gets a 2×2 IDCT (which reads AC coefficients) and 4:4:4 or 4:2:2 a 1×1.
fn idct_size_at_eighth(h: u32, v: u32, max_h: u32, max_v: u32) -> u32 {
    let mut size = 1;
    while size < 8 && max_h.is_multiple_of(h * size * 2) && max_v.is_multiple_of(v * size * 2) {
        size *= 2;
    }
    size
}

/// Decides whether the scan whose SOS segment is `seg` stays, updating the
/// components' coefficient state. `None` for a malformed header.
fn keep_scan(seg: &[u8], components: &mut [Component]) -> Option<bool> {
    let count = usize::from(*seg.first()?);
    let ids: Vec<u8> = seg
        .get(1..1 + 2 * count)?
        .iter()
        .step_by(2)
        .copied()
        .collect();
    let tail = seg.get(1 + 2 * count..4 + 2 * count)?;
    let (ss, se, al) = (usize::from(tail[0]), usize::from(tail[1]), tail[2] & 15);
    if ids.is_empty() || se > 63 || ss > se || (ss > 0 && ids.len() != 1) {
        return None;
    }
    let mut keep = true;
    for id in ids {
        let c = components.iter_mut().find(|c| c.id == id)?;
        c.coef_bits[ss..=se].fill(al as i8);
        if ss > 0 && c.dc_only {
            c.trimmed = true;
            keep = false;
        }
    }
    Some(keep)
}

/// Offset just past the entropy-coded data that starts at `from`: the next marker
/// other than a restart marker or a stuffed zero. `None` when the file ends first.
fn scan_end(jpeg: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        i += jpeg.get(i..)?.iter().position(|&b| b == 0xFF)?;
        match *jpeg.get(i + 1)? {
            0x00 | 0xD0..=0xD7 => i += 2,
            0xFF => i += 1,
            _ => return Some(i),
        }
    }
}

/// Appends, for each trimmed component, a scan coding AC coefficients 1–63 as zero
/// with no successive approximation left, after a Huffman table of end-of-band runs and
/// a zero restart interval (so one run may cover the whole component). `None` when a
/// trimmed component's original progression left a coefficient that decides smoothing
/// incomplete: the synthetic scan would then change the output.
fn append_zero_ac_scans(
    out: &mut Vec<u8>,
    width: u32,
    height: u32,
    components: &[Component],
) -> Option<()> {
    let max_h = components.iter().map(|c| c.h).max()?;
    let max_v = components.iter().map(|c| c.v).max()?;
    // AC table 0: symbols EOB0..EOB14 (0x00, 0x10 … 0xE0), all 4-bit codes.
    let mut dht = vec![0xFF, DHT, 0, 2 + 1 + 16 + 15, 0x10];
    dht.extend_from_slice(&[0, 0, 0, 15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    dht.extend((0u8..15).map(|r| r << 4));
    out.extend_from_slice(&dht);
    out.extend_from_slice(&[0xFF, 0xDD, 0, 4, 0, 0]);
    for c in components.iter().filter(|c| c.trimmed) {
        if c.coef_bits[SMOOTHING_COEFS].iter().any(|&b| b != 0) {
            return None;
        }
        let blocks_w = (u64::from(width) * u64::from(c.h)).div_ceil(u64::from(max_h) * 8);
        let blocks_h = (u64::from(height) * u64::from(c.v)).div_ceil(u64::from(max_v) * 8);
        out.extend_from_slice(&[0xFF, SOS, 0, 8, 1, c.id, 0x00, 1, 63, 0x00]);
        out.extend_from_slice(&end_of_band_runs(blocks_w * blocks_h));
    }
    Some(())
}

/// Entropy-coded data for `blocks` empty blocks with the table above: EOB14 with all
/// 14 extra bits set (a run of 32 767) as often as needed, then EOBn for the rest.
fn end_of_band_runs(mut blocks: u64) -> Vec<u8> {
    let mut bits = BitWriter::default();
    while blocks > 0 {
        let run = blocks.min(32_767);
        let r = 63 - run.leading_zeros();
        bits.put(u64::from(r), 4);
        bits.put(run - (1 << r), r);
        blocks -= run;
    }
    bits.finish()
}

/// MSB-first bit packing with JPEG byte stuffing (0xFF is followed by 0x00) and
/// padding with 1-bits.
#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    used: u32,
}

impl BitWriter {
    fn put(&mut self, value: u64, count: u32) {
        self.acc = (self.acc << count) | value;
        self.used += count;
        while self.used >= 8 {
            self.used -= 8;
            self.byte((self.acc >> self.used) as u8);
        }
    }

    fn byte(&mut self, b: u8) {
        self.out.push(b);
        if b == 0xFF {
            self.out.push(0);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.used > 0 {
            let pad = 8 - self.used;
            self.put((1 << pad) - 1, pad);
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::{end_of_band_runs, for_eighth_scale};
    use turbojpeg::{Compressor, Decompressor, Image, PixelFormat, ScalingFactor, Subsamp};

    /// A textured test picture, so that AC coefficients are far from zero.
    fn picture(w: usize, h: usize, channels: usize) -> Vec<u8> {
        (0..w * h * channels)
            .map(|i| {
                let (p, c) = (i / channels, i % channels);
                let (x, y) = (p % w, p / w);
                ((x * 7 + y * 3 + c * 50) ^ (x * y / 5)) as u8
            })
            .collect()
    }

    fn progressive(w: usize, h: usize, subsamp: Subsamp, format: PixelFormat) -> Vec<u8> {
        let pixels = picture(w, h, format.size());
        let mut c = Compressor::new().unwrap();
        c.set_quality(90).unwrap();
        c.set_subsamp(subsamp).unwrap();
        c.set_progressive(true).unwrap();
        let image = Image {
            pixels: pixels.as_slice(),
            width: w,
            pitch: w * format.size(),
            height: h,
            format,
        };
        c.compress_to_vec(image).unwrap()
    }

    fn eighth(jpeg: &[u8], format: PixelFormat) -> Vec<u8> {
        let mut d = Decompressor::new().unwrap();
        let header = d.read_header(jpeg).unwrap();
        let factor = ScalingFactor::new(1, 8);
        d.set_scaling_factor(factor).unwrap();
        let scaled = header.scaled(factor);
        let mut pixels = vec![0; scaled.width * scaled.height * format.size()];
        let image = Image {
            pixels: pixels.as_mut_slice(),
            width: scaled.width,
            pitch: scaled.width * format.size(),
            height: scaled.height,
            format,
        };
        d.decompress(jpeg, image).unwrap();
        pixels
    }

    #[test]
    fn trimmed_files_decode_to_the_same_pixels_at_one_eighth() {
        let cases = [
            (Subsamp::None, PixelFormat::RGB),
            (Subsamp::Sub2x1, PixelFormat::RGB),
            (Subsamp::Sub2x2, PixelFormat::RGB),
            (Subsamp::Gray, PixelFormat::GRAY),
        ];
        // Odd sizes: partial blocks and MCUs at the edges.
        for (w, h) in [(517, 333), (1000, 700), (64, 8)] {
            for (subsamp, format) in cases {
                let jpeg = progressive(w, h, subsamp, format);
                let trimmed = for_eighth_scale(&jpeg, 256).expect("AC scans to drop");
                assert!(trimmed.len() < jpeg.len(), "{subsamp:?}: {}", trimmed.len());
                assert_eq!(
                    eighth(&trimmed, format),
                    eighth(&jpeg, format),
                    "{w}x{h} {subsamp:?}"
                );
            }
        }
    }

    #[test]
    fn baseline_files_are_left_alone() {
        let pixels = picture(64, 64, 3);
        let image = Image {
            pixels: pixels.as_slice(),
            width: 64,
            pitch: 192,
            height: 64,
            format: PixelFormat::RGB,
        };
        let jpeg = turbojpeg::compress(image, 90, Subsamp::Sub2x2).unwrap();
        assert!(for_eighth_scale(&jpeg, 256).is_none());
    }

    #[test]
    fn truncated_or_garbled_files_are_left_to_the_decoder() {
        let jpeg = progressive(256, 256, Subsamp::None, PixelFormat::RGB);
        for cut in [0, 2, 3, 20, 200, jpeg.len() / 2, jpeg.len() - 2] {
            assert!(
                for_eighth_scale(&jpeg[..cut], 256).is_none(),
                "cut at {cut}"
            );
        }
        // Damage anywhere must not panic; what comes out is the decoder's business.
        for at in (2..jpeg.len()).step_by(29) {
            for value in [0x00, 0xFF, 0xDA, 0x41] {
                let mut garbled = jpeg.clone();
                garbled[at] = value;
                let _ = for_eighth_scale(&garbled, 256);
            }
        }
    }

    #[test]
    fn files_over_the_scan_limit_are_left_to_the_decoder_and_its_limit() {
        // libjpeg-turbo's simple progression: 10 scans for colour.
        let jpeg = progressive(64, 64, Subsamp::None, PixelFormat::RGB);
        assert!(for_eighth_scale(&jpeg, 10).is_some());
        assert!(for_eighth_scale(&jpeg, 9).is_none());
    }

    #[test]
    fn end_of_band_runs_are_stuffed_and_padded() {
        // 32 767 = EOB14 (1110) + fourteen 1-bits, then 1 = EOB0 (0000), padded.
        assert_eq!(end_of_band_runs(32_768), [0xEF, 0xFF, 0x00, 0xC3]);
        assert_eq!(end_of_band_runs(1), [0x0F]);
    }
}
