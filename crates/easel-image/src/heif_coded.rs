//! The sizes a HEIF decoder will really allocate, read without decoding: the picture
//! size in an `hvcC` box's HEVC sequence parameter set, the maximum frame size in an
//! AV1 sequence header, and a grid's canvas size. libheif 1.15 decodes
//! these sizes whatever the `ispe` box declares, so a file that declares 32×32 and
//! codes 30 000×30 000 must be caught here, before any pixel is decoded.

/// Reads bits most significant first, as both HEVC and AV1 headers are written.
struct Bits<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Bits { data, at: 0 }
    }

    fn bit(&mut self) -> Option<u32> {
        let byte = self.data.get(self.at / 8)?;
        let bit = (byte >> (7 - self.at % 8)) & 1;
        self.at += 1;
        Some(u32::from(bit))
    }

    /// `n` ≤ 32 bits as an unsigned number.
    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n)
            .try_fold(0u64, |acc, _| Some(acc << 1 | u64::from(self.bit()?)))
            .map(|v| v as u32)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.at += n;
        (self.at <= self.data.len() * 8).then_some(())
    }

    /// Leading zero bits before the next 1 (at most 31: longer codes are invalid here).
    fn leading_zeros(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some(zeros)
    }

    /// HEVC's unsigned Exp-Golomb code, `ue(v)`.
    fn ue(&mut self) -> Option<u32> {
        let zeros = self.leading_zeros()?;
        Some(((1u64 << zeros) - 1 + u64::from(self.bits(zeros)?)) as u32)
    }
}

/// The coded picture size in the first SPS of an `hvcC` box body.
pub(crate) fn hevc_size(hvcc: &[u8]) -> Option<(u32, u32)> {
    let arrays = *hvcc.get(22)?;
    let mut at = 23;
    for _ in 0..arrays {
        let nal_type = hvcc.get(at)? & 0x3f;
        let count = u16::from_be_bytes([*hvcc.get(at + 1)?, *hvcc.get(at + 2)?]);
        at += 3;
        for _ in 0..count {
            let len = usize::from(u16::from_be_bytes([*hvcc.get(at)?, *hvcc.get(at + 1)?]));
            let nal = hvcc.get(at + 2..at + 2 + len)?;
            if nal_type == 33 {
                return sps_size(&unescape(nal.get(2..)?));
            }
            at += 2 + len;
        }
    }
    None
}

/// Removes HEVC's emulation-prevention bytes (the 3 in `00 00 03`).
fn unescape(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// `pic_width/height_in_luma_samples` (ITU-T H.265 7.3.2.2): the coded size, padded
/// to whole coding blocks (8 pixels at most; the conformance window that crops it
/// back is not read, the caller's slack covers it).
fn sps_size(rbsp: &[u8]) -> Option<(u32, u32)> {
    let mut r = Bits::new(rbsp);
    r.skip(4)?; // sps_video_parameter_set_id
    let sub_layers = r.bits(3)? as usize; // sps_max_sub_layers_minus1
    r.skip(1 + 96)?; // temporal_id_nesting_flag, general profile, tier and level
    let mut present = Vec::with_capacity(sub_layers);
    for _ in 0..sub_layers {
        present.push((r.bit()?, r.bit()?));
    }
    if sub_layers > 0 {
        r.skip(2 * (8 - sub_layers))?;
    }
    for (profile, level) in present {
        r.skip(88 * profile as usize + 8 * level as usize)?;
    }
    r.ue()?; // sps_seq_parameter_set_id
    if r.ue()? == 3 {
        r.skip(1)?; // chroma_format_idc 4:4:4: separate_colour_plane_flag
    }
    Some((r.ue()?, r.ue()?))
}

/// The maximum frame size in the first sequence header of an AV1 OBU stream: an
/// `av1C` box's config OBUs (after its 4 fixed bytes) or, as libavif 0.11 and
/// libheif 1.15 write it, the start of the item's coded data.
pub(crate) fn av1_size(mut obus: &[u8]) -> Option<(u32, u32)> {
    while let Some(&header) = obus.first() {
        let kind = (header >> 3) & 0x0f;
        let skip_ext = usize::from(header & 0x04 != 0);
        let mut at = 1 + skip_ext;
        let size = if header & 0x02 != 0 {
            let (size, len) = leb128(obus.get(at..)?)?;
            at += len;
            size
        } else {
            obus.len() - at
        };
        let payload = obus.get(at..at.checked_add(size)?)?;
        if kind == 1 {
            return sequence_header_size(payload);
        }
        obus = &obus[at + size..];
    }
    None
}

fn leb128(b: &[u8]) -> Option<(usize, usize)> {
    let mut value = 0usize;
    for (i, byte) in b.iter().take(8).enumerate() {
        value |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// `max_frame_width/height_minus_1` + 1 (AV1 specification 5.5.1).
fn sequence_header_size(payload: &[u8]) -> Option<(u32, u32)> {
    let mut r = Bits::new(payload);
    r.skip(4)?; // seq_profile, still_picture
    if r.bit()? == 1 {
        r.skip(5)?; // reduced_still_picture_header: seq_level_idx[0]
    } else {
        skip_operating_points(&mut r)?;
    }
    let (wbits, hbits) = (r.bits(4)? + 1, r.bits(4)? + 1);
    Some((r.bits(wbits)? + 1, r.bits(hbits)? + 1))
}

/// Timing, decoder model and operating points of a full sequence header.
fn skip_operating_points(r: &mut Bits) -> Option<()> {
    let mut delay_bits = 0;
    let mut decoder_model = false;
    if r.bit()? == 1 {
        r.skip(64)?; // num_units_in_display_tick, time_scale
        if r.bit()? == 1 {
            let zeros = r.leading_zeros()?; // num_ticks_per_picture_minus_1, uvlc()
            r.skip(zeros as usize)?;
        }
        decoder_model = r.bit()? == 1;
        if decoder_model {
            delay_bits = r.bits(5)? as usize + 1;
            r.skip(32 + 5 + 5)?;
        }
    }
    let initial_delay = r.bit()? == 1;
    for _ in 0..=r.bits(5)? {
        r.skip(12)?; // operating_point_idc
        if r.bits(5)? > 7 {
            r.skip(1)?; // seq_tier
        }
        if decoder_model && r.bit()? == 1 {
            r.skip(2 * delay_bits + 1)?;
        }
        if initial_delay && r.bit()? == 1 {
            r.skip(4)?;
        }
    }
    Some(())
}

/// Output size of an `ImageGrid` item payload (ISO/IEC 23008-12 6.6.2.3).
pub(crate) fn grid_size(payload: &[u8]) -> Option<(u32, u32)> {
    let wide = payload.get(1)? & 1 == 1;
    let mut r = Bits::new(payload.get(4..)?);
    let bits = if wide { 32 } else { 16 };
    Some((r.bits(bits)?, r.bits(bits)?))
}
