//! The four kinds of progressive scan (DC first and refinement, AC first and
//! refinement, ITU T.81 G.1.2) decoded into a whole-image coefficient store, with the
//! exact arithmetic of libjpeg-turbo's `jdphuff.c`, so the coefficients the output
//! needs are the ones libjpeg-turbo would have.
//!
//! Two facts keep the store small and the scans fast. How a refinement scan is parsed
//! depends only on which coefficients are nonzero, so each block keeps a 64-bit mask
//! of its nonzero AC coefficients (zigzag order: a scan's band is a bit range) and the
//! values of only the coefficients the reduced IDCT reads ([`Kept`]: 24 of the 63 AC
//! coefficients at 2×2, 48 at 4×4, all at 8×8); DC values sit in their own dense array. A
//! refinement scan then spreads a block's correction bits onto its nonzero
//! coefficients a byte at a time ([`DEPOSIT`]) instead of testing 63 coefficients one
//! by one as libjpeg-turbo does, and touches memory only for kept coefficients.

use super::bits::{BitReader, Huffman};

/// The zigzag index of each natural-order (row-major) coefficient position.
pub(super) const ZIGZAG_OF: [usize; 64] = [
    0, 1, 5, 6, 14, 15, 27, 28, //
    2, 4, 7, 13, 16, 26, 29, 42, //
    3, 8, 12, 17, 25, 30, 41, 43, //
    9, 11, 18, 24, 31, 40, 44, 53, //
    10, 19, 23, 32, 39, 45, 52, 54, //
    20, 22, 33, 38, 46, 51, 55, 60, //
    21, 34, 37, 47, 50, 56, 59, 61, //
    35, 36, 48, 49, 57, 58, 62, 63,
];

/// The AC coefficients whose values a reduced IDCT reads.
pub(super) struct Kept {
    /// Zigzag bits of the kept coefficients.
    pub mask: u64,
    /// Zigzag index → slot in the block's stored values (`u8::MAX`: not kept).
    pub slot: [u8; 64],
    /// Slot → natural-order position.
    pub natural: [u8; 63],
    pub count: usize,
}

/// `jpeg_idct_2x2` reads rows and columns 0, 1, 3, 5, 7.
pub(super) static KEPT_2X2: Kept = kept(&[0, 1, 3, 5, 7]);
/// `jpeg_idct_4x4` reads every row and column but 4.
pub(super) static KEPT_4X4: Kept = kept(&[0, 1, 2, 3, 5, 6, 7]);
/// `jpeg_idct_islow` reads them all.
pub(super) static KEPT_8X8: Kept = kept(&[0, 1, 2, 3, 4, 5, 6, 7]);

const fn kept(lines: &[usize]) -> Kept {
    let mut kept = Kept {
        mask: 0,
        slot: [u8::MAX; 64],
        natural: [0; 63],
        count: 0,
    };
    let mut row = 0;
    while row < lines.len() {
        let mut col = 0;
        while col < lines.len() {
            let natural = lines[row] * 8 + lines[col];
            if natural != 0 {
                let zigzag = ZIGZAG_OF[natural];
                kept.mask |= 1 << zigzag;
                kept.slot[zigzag] = kept.count as u8;
                kept.natural[kept.count] = natural as u8;
                kept.count += 1;
            }
            col += 1;
        }
        row += 1;
    }
    kept
}

/// One component's coefficients, padded to whole MCUs.
pub(super) struct Plane {
    pub blocks_wide: usize,
    pub dc: Vec<i16>,
    /// Bit `k` set: AC coefficient `k` (zigzag) is nonzero. Bit 0 is unused.
    pub nonzero: Vec<u64>,
    /// `kept.count` values per block, in slot order.
    pub ac: Vec<i16>,
    pub kept: &'static Kept,
}

impl Plane {
    pub(super) fn new(
        blocks_wide: usize,
        blocks_high: usize,
        kept: &'static Kept,
    ) -> Option<Plane> {
        let blocks = blocks_wide.checked_mul(blocks_high)?;
        Some(Plane {
            blocks_wide,
            dc: zeroed(blocks)?,
            nonzero: zeroed(blocks)?,
            ac: zeroed(blocks.checked_mul(kept.count)?)?,
            kept,
        })
    }

    /// The kept AC values of block `index`.
    #[inline]
    pub(super) fn block_ac(&self, index: usize) -> &[i16] {
        &self.ac[index * self.kept.count..(index + 1) * self.kept.count]
    }

    /// Block `index`'s kept AC values and nonzero mask, for a scan to update.
    #[inline]
    fn block_ac_mut(&mut self, index: usize) -> Option<(&mut [i16], &mut u64)> {
        let count = self.kept.count;
        let ac = self.ac.get_mut(index * count..(index + 1) * count)?;
        Some((ac, self.nonzero.get_mut(index)?))
    }
}

/// A zeroed vector, or `None` when the memory is not there.
fn zeroed<T: Clone + Default>(len: usize) -> Option<Vec<T>> {
    let mut values = Vec::new();
    values.try_reserve_exact(len).ok()?;
    values.resize(len, T::default());
    Some(values)
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
/// must follow it at once and the position after that marker. `None` for anything
/// libjpeg-turbo would warn about or treat specially (a bad code, a missing restart
/// marker, data that runs out): the caller then decodes the file with libjpeg-turbo.
pub(super) fn decode_scan(
    data: &[u8],
    pos: usize,
    scan: &Scan<'_>,
    planes: &mut [Plane],
) -> Option<(u8, usize)> {
    let mut bits = BitReader::new(data, pos);
    let al = scan.al;
    if scan.components.len() > 1 {
        // An interleaved DC scan: each MCU holds each component's h×v blocks.
        let refine = scan.ah != 0;
        let grid = (scan.mcus_wide, scan.mcus_high);
        for_each_unit(&mut bits, scan, grid, |bits, state, mcu_x, mcu_y| {
            for (slot, component) in scan.components.iter().enumerate() {
                let plane = &mut planes[component.plane];
                for row in 0..component.v {
                    for col in 0..component.h {
                        let y = mcu_y * component.v + row;
                        let index = y * plane.blocks_wide + mcu_x * component.h + col;
                        let dc = plane.dc.get_mut(index)?;
                        if refine {
                            dc_refine(bits, dc, al);
                        } else {
                            dc_first(bits, dc, component.dc_table?, &mut state.dc_pred[slot], al)?;
                        }
                    }
                }
            }
            Some(())
        })?;
        return bits.finish();
    }
    let component = &scan.components[0];
    let grid = (component.blocks_wide, component.blocks_high);
    let plane = &mut planes[component.plane];
    let stride = plane.blocks_wide;
    match (scan.ss, scan.ah) {
        (0, 0) => {
            let table = component.dc_table?;
            for_each_unit(&mut bits, scan, grid, |bits, state, x, y| {
                dc_first(
                    bits,
                    plane.dc.get_mut(y * stride + x)?,
                    table,
                    &mut state.dc_pred[0],
                    al,
                )
            })?
        }
        (0, _) => for_each_unit(&mut bits, scan, grid, |bits, _, x, y| {
            dc_refine(bits, plane.dc.get_mut(y * stride + x)?, al);
            Some(())
        })?,
        (_, 0) => {
            let table = component.ac_table?;
            let kept = plane.kept;
            for_each_unit(&mut bits, scan, grid, |bits, state, x, y| {
                if state.eobrun > 0 {
                    state.eobrun -= 1;
                    return Some(());
                }
                let (ac, nonzero) = plane.block_ac_mut(y * stride + x)?;
                ac_first(bits, ac, nonzero, kept, table, scan, &mut state.eobrun)
            })?
        }
        _ => {
            let table = component.ac_table?;
            let kept = plane.kept;
            let whole = band(scan.ss, scan.se);
            for_each_unit(&mut bits, scan, grid, |bits, state, x, y| {
                let (ac, nonzero) = plane.block_ac_mut(y * stride + x)?;
                if state.eobrun > 0 {
                    // Inside an end-of-band run: only correction bits.
                    let positions = whole & *nonzero;
                    let (mut collected, mut count) = (0, 0);
                    collect(bits, positions, &mut collected, &mut count);
                    apply_corrections(ac, kept, positions, collected, count, 1 << al);
                    state.eobrun -= 1;
                    return Some(());
                }
                ac_refine(bits, ac, nonzero, kept, table, scan, &mut state.eobrun)
            })?
        }
    }
    bits.finish()
}

/// Runs `decode` over a `grid` of MCUs (or blocks) in raster order, handling restart
/// intervals: the expected RSTn marker, and resetting the DC predictions and EOB run.
#[inline(always)]
fn for_each_unit(
    bits: &mut BitReader<'_>,
    scan: &Scan<'_>,
    (wide, high): (usize, usize),
    mut decode: impl FnMut(&mut BitReader<'_>, &mut State, usize, usize) -> Option<()>,
) -> Option<()> {
    let mut state = State::default();
    let mut restarts_to_go = scan.restart_interval;
    let mut next_restart = 0u8;
    for y in 0..high {
        for x in 0..wide {
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
            decode(bits, &mut state, x, y)?;
        }
    }
    Some(())
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

#[inline]
fn dc_first(
    bits: &mut BitReader<'_>,
    dc: &mut i16,
    table: &Huffman,
    pred: &mut i32,
    al: u32,
) -> Option<()> {
    let size = u32::from(bits.symbol(table)?);
    let diff = if size == 0 {
        0
    } else {
        extend(bits.bits(size) as u32, size)
    };
    *pred = pred.checked_add(diff)?;
    *dc = pred.wrapping_shl(al) as i16;
    Some(())
}

#[inline]
fn dc_refine(bits: &mut BitReader<'_>, dc: &mut i16, al: u32) {
    if bits.bit() {
        *dc |= 1 << al;
    }
}

/// Stores AC coefficient `k` of a block: its nonzero bit, and its value if kept.
#[inline]
fn store(ac: &mut [i16], nonzero: &mut u64, kept: &Kept, k: u32, value: i16) {
    if value != 0 {
        *nonzero |= 1 << k;
    } else {
        *nonzero &= !(1 << k);
    }
    if let Some(slot) = ac.get_mut(usize::from(kept.slot[k as usize])) {
        *slot = value;
    }
}

fn ac_first(
    bits: &mut BitReader<'_>,
    ac: &mut [i16],
    nonzero: &mut u64,
    kept: &Kept,
    table: &Huffman,
    scan: &Scan<'_>,
    eobrun: &mut u32,
) -> Option<()> {
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
            let value = (extend(bits.bits(size) as u32, size) << scan.al) as i16;
            store(ac, nonzero, kept, k, value);
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
    ac: &mut [i16],
    nonzero: &mut u64,
    kept: &Kept,
    table: &Huffman,
    scan: &Scan<'_>,
    eobrun: &mut u32,
) -> Option<()> {
    let whole = band(scan.ss, scan.se);
    // The coefficients already nonzero get one correction bit each, in order,
    // interleaved with the symbols; they are collected here and applied at the end.
    let corrected = *nonzero & whole;
    let (mut collected, mut count) = (0u64, 0u32);
    let mut k = scan.ss;
    if *eobrun == 0 {
        while k <= scan.se {
            let symbol = bits.symbol(table)?;
            let run = u32::from(symbol >> 4);
            let size = symbol & 15;
            let new_value: i16 = match size {
                0 if run != 15 => {
                    *eobrun = (1u32 << run) + bits.bits(run) as u32;
                    break;
                }
                0 => 0,
                1 => {
                    if bits.bit() {
                        1 << scan.al
                    } else {
                        -1 << scan.al
                    }
                }
                _ => return None,
            };
            // Skip `run` coefficients that are still zero; the next zero one is the
            // target (the new coefficient, or the end of a 16-zero run).
            let ahead = whole & at_or_above(k);
            let mut zeros = ahead & !*nonzero;
            if run > 0 {
                zeros = drop_lowest_set_bits(zeros, run);
            }
            if zeros == 0 {
                // The band ends first: only a zero run may do that.
                if new_value != 0 {
                    return None;
                }
                collect(bits, ahead & corrected, &mut collected, &mut count);
                k = scan.se + 1;
                break;
            }
            let target = zeros.trailing_zeros();
            collect(
                bits,
                ahead & !at_or_above(target) & corrected,
                &mut collected,
                &mut count,
            );
            if new_value != 0 {
                store(ac, nonzero, kept, target, new_value);
            }
            k = target + 1;
        }
    }
    if *eobrun > 0 {
        collect(
            bits,
            whole & at_or_above(k) & corrected,
            &mut collected,
            &mut count,
        );
        *eobrun -= 1;
    }
    apply_corrections(ac, kept, corrected, collected, count, 1 << scan.al);
    Some(())
}

/// Reads the correction bits of the coefficients in `positions` and appends them to
/// `collected` (the first bit read ends up highest).
#[inline]
fn collect(bits: &mut BitReader<'_>, positions: u64, collected: &mut u64, count: &mut u32) {
    if positions == 0 {
        return;
    }
    let n = positions.count_ones();
    *collected = collected.checked_shl(n).unwrap_or(0) | bits.long_bits(n);
    *count += n;
}

/// Applies a block's correction bits: `collected` holds `count` bits, the first for the
/// lowest position of `positions`. Where a bit is set, a kept coefficient moves one step
/// (`p1`) away from zero unless that bit of it is already set. Unkept coefficients
/// are not stored, and a correction never makes a nonzero coefficient zero, so the
/// nonzero mask stays as it is.
///
/// The bits are spread onto the positions a byte of positions at a time through
/// [`DEPOSIT`], so the final loop runs once per set bit, not once per coefficient.
#[inline]
fn apply_corrections(
    ac: &mut [i16],
    kept: &Kept,
    positions: u64,
    collected: u64,
    count: u32,
    p1: i16,
) {
    if count == 0 {
        return;
    }
    // The bits in stream order from bit 0.
    let mut stream = collected.reverse_bits() >> (64 - count);
    let mut set = 0u64;
    let (first, last) = (
        positions.trailing_zeros() / 8,
        (63 - positions.leading_zeros()) / 8,
    );
    for byte in first..=last {
        let mask = (positions >> (8 * byte)) as u8;
        let deposited = DEPOSIT[usize::from(mask)][usize::from(stream as u8)];
        set |= u64::from(deposited) << (8 * byte);
        // A table, not `count_ones`: the baseline x86-64 target has no POPCNT.
        stream >>= SET_BITS[usize::from(mask)];
    }
    set &= kept.mask;
    while set != 0 {
        let k = set.trailing_zeros() as usize;
        set &= set - 1;
        if let Some(coef) = ac.get_mut(usize::from(kept.slot[k]))
            && *coef & p1 == 0
        {
            *coef = coef.wrapping_add(if *coef >= 0 { p1 } else { -p1 });
        }
    }
}

/// `value` without its `n` lowest set bits (0 when it has no more).
#[inline]
fn drop_lowest_set_bits(mut value: u64, n: u32) -> u64 {
    for _ in 0..n {
        value &= value.wrapping_sub(1);
    }
    value
}

/// The number of set bits of each byte.
static SET_BITS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = (byte as u8).count_ones() as u8;
        byte += 1;
    }
    table
};

/// `DEPOSIT[mask][bits]`: the low bits of `bits`, in order, placed at the set bits of
/// `mask` (lowest first): the byte-sized parallel bit deposit.
static DEPOSIT: [[u8; 256]; 256] = deposit_table();

const fn deposit_table() -> [[u8; 256]; 256] {
    let mut table = [[0u8; 256]; 256];
    let mut mask = 0;
    while mask < 256 {
        let mut bits = 0;
        while bits < 256 {
            let (mut out, mut next, mut position) = (0u8, 0, 0);
            while position < 8 {
                if mask & (1 << position) != 0 {
                    if bits & (1 << next) != 0 {
                        out |= 1 << position;
                    }
                    next += 1;
                }
                position += 1;
            }
            table[mask][bits] = out;
            bits += 1;
        }
        mask += 1;
    }
    table
}
