//! The four kinds of progressive scan (DC first and refinement, AC first and
//! refinement, ITU T.81 G.1.2) decoded into a whole-image coefficient buffer, with the
//! exact arithmetic of libjpeg-turbo's `jdphuff.c`, so the coefficients and therefore
//! the pixels are the ones libjpeg-turbo would produce.
//!
//! Coefficients are kept in zigzag order, so a scan's spectral band is a contiguous
//! range, and each block carries a mask of its nonzero AC coefficients. A refinement
//! scan, most of a progressive file's decoding time, then reads the correction bits of
//! a block's nonzero coefficients in one go instead of testing 63 coefficients one by
//! one as libjpeg-turbo does.

use super::bits::{BitReader, Huffman};

/// One component's quantized coefficients, padded to whole MCUs.
pub(super) struct Plane {
    pub blocks_wide: usize,
    /// Zigzag order; index 0 is DC.
    pub coefs: Vec<[i16; 64]>,
    /// Bit `k` set: AC coefficient `k` (zigzag) is nonzero. Bit 0 is unused.
    pub nonzero: Vec<u64>,
}

impl Plane {
    pub(super) fn new(blocks_wide: usize, blocks_high: usize) -> Option<Plane> {
        let blocks = blocks_wide.checked_mul(blocks_high)?;
        let mut coefs = Vec::new();
        coefs.try_reserve_exact(blocks).ok()?;
        coefs.resize(blocks, [0; 64]);
        let mut nonzero = Vec::new();
        nonzero.try_reserve_exact(blocks).ok()?;
        nonzero.resize(blocks, 0);
        Some(Plane {
            blocks_wide,
            coefs,
            nonzero,
        })
    }
}

/// A component as one scan uses it.
pub(super) struct ScanComponent<'t> {
    pub plane: usize,
    pub h: usize,
    pub v: usize,
    /// The component's own size in blocks (what a non-interleaved scan covers).
    pub blocks_wide: usize,
    pub blocks_high: usize,
    pub dc_table: Option<&'t Huffman>,
    pub ac_table: Option<&'t Huffman>,
}

/// One SOS: its components, band and successive-approximation bits.
pub(super) struct Scan<'t> {
    pub components: Vec<ScanComponent<'t>>,
    pub ss: u32,
    pub se: u32,
    pub ah: u32,
    pub al: u32,
    pub restart_interval: u32,
    /// MCUs of an interleaved scan.
    pub mcus_wide: usize,
    pub mcus_high: usize,
}

/// State that restart markers reset.
#[derive(Default)]
struct State {
    dc_pred: [i32; 4],
    eobrun: u32,
}

/// Decodes one scan's entropy-coded data starting at `pos`; returns the marker that
/// must follow it at once and the position after that marker. `None` for anything libjpeg-turbo
/// would warn about or treat specially (a bad code, a missing restart marker, data
/// that runs out): the caller then decodes the file with libjpeg-turbo.
pub(super) fn decode_scan(
    data: &[u8],
    pos: usize,
    scan: &Scan<'_>,
    planes: &mut [Plane],
) -> Option<(u8, usize)> {
    let mut bits = BitReader::new(data, pos);
    let mut state = State::default();
    let interleaved = scan.components.len() > 1;
    let (units_wide, units_high) = if interleaved {
        (scan.mcus_wide, scan.mcus_high)
    } else {
        let only = &scan.components[0];
        (only.blocks_wide, only.blocks_high)
    };
    let mut restarts_to_go = scan.restart_interval;
    let mut next_restart = 0u8;
    for unit_y in 0..units_high {
        for unit_x in 0..units_wide {
            if scan.restart_interval > 0 {
                if restarts_to_go == 0 {
                    let (marker, _) = bits.finish()?;
                    if marker != 0xD0 + next_restart {
                        return None;
                    }
                    next_restart = (next_restart + 1) & 7;
                    state = State::default();
                    restarts_to_go = scan.restart_interval;
                }
                restarts_to_go -= 1;
            }
            if interleaved {
                decode_mcu(&mut bits, scan, planes, &mut state, unit_x, unit_y)?;
            } else {
                let component = &scan.components[0];
                let plane = &mut planes[component.plane];
                let index = unit_y * plane.blocks_wide + unit_x;
                decode_block(&mut bits, scan, component, plane, index, &mut state, 0)?;
            }
        }
    }
    bits.finish()
}

/// One MCU of an interleaved (DC) scan: each component's h×v blocks in turn.
fn decode_mcu(
    bits: &mut BitReader<'_>,
    scan: &Scan<'_>,
    planes: &mut [Plane],
    state: &mut State,
    mcu_x: usize,
    mcu_y: usize,
) -> Option<()> {
    for (slot, component) in scan.components.iter().enumerate() {
        let plane = &mut planes[component.plane];
        for row in 0..component.v {
            for col in 0..component.h {
                let y = mcu_y * component.v + row;
                let x = mcu_x * component.h + col;
                let index = y * plane.blocks_wide + x;
                decode_block(bits, scan, component, plane, index, state, slot)?;
            }
        }
    }
    Some(())
}

fn decode_block(
    bits: &mut BitReader<'_>,
    scan: &Scan<'_>,
    component: &ScanComponent<'_>,
    plane: &mut Plane,
    index: usize,
    state: &mut State,
    slot: usize,
) -> Option<()> {
    let coefs = plane.coefs.get_mut(index)?;
    let nonzero = plane.nonzero.get_mut(index)?;
    match (scan.ss, scan.ah) {
        (0, 0) => dc_first(
            bits,
            coefs,
            component.dc_table?,
            &mut state.dc_pred[slot],
            scan.al,
        ),
        (0, _) => {
            if bits.bit() {
                coefs[0] |= 1 << scan.al;
            }
            Some(())
        }
        (_, 0) => ac_first(
            bits,
            coefs,
            nonzero,
            component.ac_table?,
            scan,
            &mut state.eobrun,
        ),
        _ => ac_refine(
            bits,
            coefs,
            nonzero,
            component.ac_table?,
            scan,
            &mut state.eobrun,
        ),
    }
}

/// The value of `size` extra bits `raw` (T.81 F.2.2.1, `HUFF_EXTEND`).
#[inline]
fn extend(raw: u32, size: u32) -> i32 {
    if raw < 1 << (size - 1) {
        raw as i32 + (-1i32 << size) + 1
    } else {
        raw as i32
    }
}

fn dc_first(
    bits: &mut BitReader<'_>,
    coefs: &mut [i16; 64],
    table: &Huffman,
    pred: &mut i32,
    al: u32,
) -> Option<()> {
    let size = u32::from(bits.symbol(table)?);
    let diff = if size == 0 {
        0
    } else {
        bits.need(size);
        extend(bits.take(size), size)
    };
    *pred = pred.checked_add(diff)?;
    coefs[0] = pred.wrapping_shl(al) as i16;
    Some(())
}

fn ac_first(
    bits: &mut BitReader<'_>,
    coefs: &mut [i16; 64],
    nonzero: &mut u64,
    table: &Huffman,
    scan: &Scan<'_>,
    eobrun: &mut u32,
) -> Option<()> {
    if *eobrun > 0 {
        *eobrun -= 1;
        return Some(());
    }
    let mut k = scan.ss;
    while k <= scan.se {
        let symbol = bits.symbol(table)?;
        let run = u32::from(symbol >> 4);
        let size = u32::from(symbol & 15);
        if size != 0 {
            k += run;
            if k > scan.se {
                return None;
            }
            bits.need(size);
            let value = (extend(bits.take(size), size) << scan.al) as i16;
            coefs[k as usize] = value;
            if value != 0 {
                *nonzero |= 1 << k;
            } else {
                *nonzero &= !(1 << k);
            }
        } else if run == 15 {
            k += 15;
        } else {
            *eobrun = (1u32 << run) + bits.bits(run) as u32 - 1;
            break;
        }
        k += 1;
    }
    Some(())
}

/// Bits `from..=to` set.
#[inline]
fn band(from: u32, to: u32) -> u64 {
    (u64::MAX >> (63 - to)) & (u64::MAX << from)
}

/// Bits at `from` and above (none when `from` is 64).
#[inline]
fn at_or_above(from: u32) -> u64 {
    u64::MAX.checked_shl(from).unwrap_or(0)
}

fn ac_refine(
    bits: &mut BitReader<'_>,
    coefs: &mut [i16; 64],
    nonzero: &mut u64,
    table: &Huffman,
    scan: &Scan<'_>,
    eobrun: &mut u32,
) -> Option<()> {
    let p1: i16 = 1 << scan.al;
    let m1: i16 = -1 << scan.al;
    let whole = band(scan.ss, scan.se);
    let mut k = scan.ss;
    if *eobrun == 0 {
        while k <= scan.se {
            let symbol = bits.symbol(table)?;
            let run = u32::from(symbol >> 4);
            let size = symbol & 15;
            let new_value = match size {
                0 if run != 15 => {
                    *eobrun = (1u32 << run) + bits.bits(run) as u32;
                    break;
                }
                0 => 0,
                1 => {
                    if bits.bit() {
                        p1
                    } else {
                        m1
                    }
                }
                _ => return None,
            };
            // Skip `run` coefficients that are still zero; the next zero one is the
            // target (the new coefficient, or the end of a 16-zero run).
            let ahead = whole & at_or_above(k);
            let mut zeros = ahead & !*nonzero;
            for _ in 0..run {
                zeros &= zeros.wrapping_sub(1);
            }
            if zeros == 0 {
                // The band ends first: only a zero run may do that.
                if new_value != 0 {
                    return None;
                }
                correct(bits, coefs, ahead & *nonzero, p1, m1);
                k = scan.se + 1;
                continue;
            }
            let target = zeros.trailing_zeros();
            let passed = ahead & !at_or_above(target) & *nonzero;
            correct(bits, coefs, passed, p1, m1);
            if new_value != 0 {
                coefs[target as usize] = new_value;
                *nonzero |= 1 << target;
            }
            k = target + 1;
        }
    }
    if *eobrun > 0 {
        correct(bits, coefs, whole & at_or_above(k) & *nonzero, p1, m1);
        *eobrun -= 1;
    }
    Some(())
}

/// Reads one correction bit for each coefficient in `positions` (lowest first) and,
/// where it is set, moves the coefficient one step (`p1`) away from zero unless that
/// bit is already set.
#[inline]
fn correct(bits: &mut BitReader<'_>, coefs: &mut [i16; 64], mut positions: u64, p1: i16, m1: i16) {
    let mut left = positions.count_ones();
    while left > 0 {
        let chunk = left.min(56);
        left -= chunk;
        // The chunk's bits, the first one in bit 63.
        let mut word = bits.bits(chunk) << (64 - chunk);
        let mut todo = chunk;
        while word != 0 {
            let skip = word.leading_zeros();
            for _ in 0..skip {
                positions &= positions - 1;
            }
            let k = positions.trailing_zeros() as usize;
            positions &= positions - 1;
            let coef = coefs[k];
            if coef & p1 == 0 {
                coefs[k] = coef.wrapping_add(if coef >= 0 { p1 } else { m1 });
            }
            word = word.checked_shl(skip + 1).unwrap_or(0);
            todo -= skip + 1;
        }
        for _ in 0..todo {
            positions &= positions - 1;
        }
    }
}
