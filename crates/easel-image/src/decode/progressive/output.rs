//! From coefficients to RGB pixels with libjpeg-turbo's integer arithmetic: its reduced
//! 2×2 and 4×4 inverse DCTs (`jidctred.c`), its accurate 8×8 one (`jidctint.c`), its "fancy" horizontal chroma upsampling
//! (`jdsample.c`) and its YCbCr → RGB tables (`jdcolor.c`). Every step is reproduced
//! to the bit, so a file decodes to the same pixels on either path.

/// `CONST_BITS` and `PASS1_BITS` of `jidctred.c` for 8-bit samples.
const CONST_BITS: u32 = 13;
const PASS1_BITS: u32 = 2;

/// `DESCALE`: a rounded arithmetic right shift.
#[inline]
fn descale(x: i64, n: u32) -> i64 {
    (x + (1 << (n - 1))) >> n
}

/// `IDCT_range_limit` with `RANGE_MASK`: the low 10 bits as a signed value, centred on
/// 128 and clamped (values far out of range wrap, as libjpeg-turbo's table does).
#[inline]
fn range_limit(x: i64) -> u8 {
    let wrapped = ((x & 1023) ^ 512) - 512;
    (wrapped + 128).clamp(0, 255) as u8
}

/// `jpeg_idct_2x2` of a block of dequantized coefficients (natural order; the
/// products `DEQUANTIZE` makes of the coefficients and the quantizers as 16-bit
/// signed multipliers): a 2×2 output block, row-major.
pub(super) fn idct_2x2(block: &[i32; 64]) -> [u8; 4] {
    let mut work = [[0i64; 2]; 8]; // [column][row]
    for col in [0, 1, 3, 5, 7] {
        let dq = |row: usize| i64::from(block[row * 8 + col]);
        let tmp10 = dq(0) << (CONST_BITS + 2);
        let tmp0 = dq(7) * -5906 + dq(5) * 6967 + dq(3) * -10426 + dq(1) * 29692;
        work[col][0] = i64::from(descale(tmp10 + tmp0, CONST_BITS - PASS1_BITS + 2) as i32);
        work[col][1] = i64::from(descale(tmp10 - tmp0, CONST_BITS - PASS1_BITS + 2) as i32);
    }
    let mut out = [0u8; 4];
    for row in 0..2 {
        let ws = |col: usize| work[col][row];
        let tmp10 = ws(0) << (CONST_BITS + 2);
        let tmp0 = ws(7) * -5906 + ws(5) * 6967 + ws(3) * -10426 + ws(1) * 29692;
        let shift = CONST_BITS + PASS1_BITS + 3 + 2;
        out[row * 2] = range_limit(i64::from(descale(tmp10 + tmp0, shift) as i32));
        out[row * 2 + 1] = range_limit(i64::from(descale(tmp10 - tmp0, shift) as i32));
    }
    out
}

/// `jpeg_idct_4x4`, as [`idct_2x2`]: a 4×4 output block, row-major.
pub(super) fn idct_4x4(block: &[i32; 64]) -> [u8; 16] {
    let mut work = [[0i64; 4]; 8]; // [column][row]
    for col in [0, 1, 2, 3, 5, 6, 7] {
        let dq = |row: usize| i64::from(block[row * 8 + col]);
        let [a, b, c, d] = idct4_points(dq(0), dq(1), dq(2), dq(3), dq(5), dq(6), dq(7));
        let shift = CONST_BITS - PASS1_BITS + 1;
        for (row, value) in [a, b, c, d].into_iter().enumerate() {
            work[col][row] = i64::from(descale(value, shift) as i32);
        }
    }
    let mut out = [0u8; 16];
    for row in 0..4 {
        let ws = |col: usize| work[col][row];
        let points = idct4_points(ws(0), ws(1), ws(2), ws(3), ws(5), ws(6), ws(7));
        let shift = CONST_BITS + PASS1_BITS + 3 + 1;
        for (col, value) in points.into_iter().enumerate() {
            out[row * 4 + col] = range_limit(i64::from(descale(value, shift) as i32));
        }
    }
    out
}

/// `jpeg_idct_islow`, as [`idct_2x2`]: an 8×8 output block, row-major.
pub(super) fn idct_8x8(block: &[i32; 64]) -> [u8; 64] {
    let mut work = [[0i64; 8]; 8]; // [column][row]
    for (col, column) in work.iter_mut().enumerate() {
        let x: [i64; 8] = std::array::from_fn(|row| i64::from(block[row * 8 + col]));
        let points = idct8_points(x);
        for (row, value) in points.into_iter().enumerate() {
            column[row] = i64::from(descale(value, CONST_BITS - PASS1_BITS) as i32);
        }
    }
    let mut out = [0u8; 64];
    for row in 0..8 {
        let x: [i64; 8] = std::array::from_fn(|col| work[col][row]);
        let points = idct8_points(x);
        for (col, value) in points.into_iter().enumerate() {
            let shift = CONST_BITS + PASS1_BITS + 3;
            out[row * 8 + col] = range_limit(i64::from(descale(value, shift) as i32));
        }
    }
    out
}

/// One 1-D pass of `jpeg_idct_islow` (the even part, then the odd part of figure 8),
/// before its final descale.
#[inline]
fn idct8_points(x: [i64; 8]) -> [i64; 8] {
    let z1 = (x[2] + x[6]) * 4433;
    let tmp2 = z1 + x[6] * -15137;
    let tmp3 = z1 + x[2] * 6270;
    let tmp0 = (x[0] + x[4]) << CONST_BITS;
    let tmp1 = (x[0] - x[4]) << CONST_BITS;
    let (tmp10, tmp13) = (tmp0 + tmp3, tmp0 - tmp3);
    let (tmp11, tmp12) = (tmp1 + tmp2, tmp1 - tmp2);
    let (t0, t1, t2, t3) = (x[7], x[5], x[3], x[1]);
    let (z1, z2, z3, z4) = (t0 + t3, t1 + t2, t0 + t2, t1 + t3);
    let z5 = (z3 + z4) * 9633;
    let (t0, t1, t2, t3) = (t0 * 2446, t1 * 16819, t2 * 25172, t3 * 12299);
    let (z1, z2) = (z1 * -7373, z2 * -20995);
    let z3 = z3 * -16069 + z5;
    let z4 = z4 * -3196 + z5;
    let (t0, t1, t2, t3) = (t0 + z1 + z3, t1 + z2 + z4, t2 + z2 + z3, t3 + z1 + z4);
    [
        tmp10 + t3,
        tmp11 + t2,
        tmp12 + t1,
        tmp13 + t0,
        tmp13 - t0,
        tmp12 - t1,
        tmp11 - t2,
        tmp10 - t3,
    ]
}

/// The one sample value of [`idct_2x2`], [`idct_4x4`] or [`idct_8x8`] for a block whose only
/// nonzero coefficient (of those they read) is DC, `dc` dequantized: both passes
/// reduce to the same two rounded shifts.
pub(super) fn dc_only(dc: i32) -> u8 {
    let column = (i64::from(dc) * 4) as i32;
    range_limit(i64::from(descale(i64::from(column) << 15, 20) as i32))
}

/// One 1-D pass of `jpeg_idct_4x4` over an 8-point input (point 4 is not used),
/// before its final descale.
#[inline]
fn idct4_points(x0: i64, x1: i64, x2: i64, x3: i64, x5: i64, x6: i64, x7: i64) -> [i64; 4] {
    let tmp0 = x0 << (CONST_BITS + 1);
    let tmp2 = x2 * 15137 + x6 * -6270;
    let tmp10 = tmp0 + tmp2;
    let tmp12 = tmp0 - tmp2;
    let odd0 = x7 * -1730 + x5 * 11893 + x3 * -17799 + x1 * 8697;
    let odd2 = x7 * -4176 + x5 * -4926 + x3 * 7373 + x1 * 20995;
    [tmp10 + odd2, tmp12 + odd0, tmp12 - odd0, tmp10 - odd2]
}

/// `h2v1_fancy_upsample`: doubles a row's width, each output sample 3/4 of the nearer
/// input and 1/4 of the further one; `input` holds the component's
/// `downsampled_width` samples (more than 2).
pub(super) fn upsample_h2v1(input: &[u8], output: &mut [u8]) {
    let n = input.len();
    debug_assert!(n > 2 && output.len() >= 2 * n);
    let at = |i: usize| i32::from(input[i]);
    output[0] = input[0];
    output[1] = ((at(0) * 3 + at(1) + 2) >> 2) as u8;
    for i in 1..n - 1 {
        let near = at(i) * 3;
        output[2 * i] = ((near + at(i - 1) + 1) >> 2) as u8;
        output[2 * i + 1] = ((near + at(i + 1) + 2) >> 2) as u8;
    }
    output[2 * n - 2] = ((at(n - 1) * 3 + at(n - 2) + 1) >> 2) as u8;
    output[2 * n - 1] = input[n - 1];
}

/// `jdcolor.c`'s YCbCr → RGB lookup tables.
pub(super) struct YccTables {
    cr_r: [i32; 256],
    cb_b: [i32; 256],
    cr_g: [i64; 256],
    cb_g: [i64; 256],
}

impl YccTables {
    pub(super) fn new() -> YccTables {
        const SCALEBITS: u32 = 16;
        const ONE_HALF: i64 = 1 << (SCALEBITS - 1);
        let fix = |x: f64| (x * f64::from(1u32 << SCALEBITS) + 0.5) as i64;
        let mut tables = YccTables {
            cr_r: [0; 256],
            cb_b: [0; 256],
            cr_g: [0; 256],
            cb_g: [0; 256],
        };
        for i in 0..256 {
            let x = i as i64 - 128;
            tables.cr_r[i] = ((fix(1.40200) * x + ONE_HALF) >> SCALEBITS) as i32;
            tables.cb_b[i] = ((fix(1.77200) * x + ONE_HALF) >> SCALEBITS) as i32;
            tables.cr_g[i] = -fix(0.71414) * x;
            tables.cb_g[i] = -fix(0.34414) * x + ONE_HALF;
        }
        tables
    }

    /// Converts one row of `y`, `cb`, `cr` samples into interleaved RGB.
    pub(super) fn convert_row(&self, y: &[u8], cb: &[u8], cr: &[u8], rgb: &mut [u8]) {
        for (((pixel, &y), &cb), &cr) in rgb.chunks_exact_mut(3).zip(y).zip(cb).zip(cr) {
            let (y, cb, cr) = (i32::from(y), usize::from(cb), usize::from(cr));
            let green = ((self.cb_g[cb] + self.cr_g[cr]) >> 16) as i32;
            pixel[0] = (y + self.cr_r[cr]).clamp(0, 255) as u8;
            pixel[1] = (y + green).clamp(0, 255) as u8;
            pixel[2] = (y + self.cb_b[cb]).clamp(0, 255) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{YccTables, dc_only, idct_2x2, idct_4x4, idct_8x8, upsample_h2v1};

    #[test]
    fn a_dc_only_block_is_flat() {
        // DC 8 × quantizer 16 = 128 → 128 / 8 + 128 = 144 in every sample.
        let mut block = [0i32; 64];
        block[0] = 8 * 16;
        assert_eq!(idct_2x2(&block), [144; 4]);
        assert_eq!(idct_4x4(&block), [144; 16]);
    }

    #[test]
    fn the_dc_only_shortcut_is_the_full_transform() {
        let mut block = [0i32; 64];
        let mut values: Vec<i32> = (-3000..3000).step_by(7).collect();
        values.extend([
            i32::MIN / 4,
            -(1 << 29),
            1 << 29,
            i32::MAX / 4,
            32767 * 32767,
        ]);
        for dc in values {
            block[0] = dc;
            let flat = dc_only(dc);
            assert_eq!(idct_2x2(&block), [flat; 4], "dc {dc}");
            assert_eq!(idct_4x4(&block), [flat; 16], "dc {dc}");
            assert_eq!(idct_8x8(&block), [flat; 64], "dc {dc}");
        }
    }

    #[test]
    fn a_horizontal_ramp_falls_left_to_right() {
        let mut block = [0i32; 64];
        block[1] = 40; // natural (0, 1): the first horizontal frequency
        let samples = idct_4x4(&block);
        for row in samples.chunks(4) {
            assert!(
                row[0] > row[1] && row[1] > row[2] && row[2] > row[3],
                "{row:?}"
            );
        }
        for row in idct_8x8(&block).chunks(8) {
            assert!(row.windows(2).all(|pair| pair[0] >= pair[1]), "{row:?}");
            assert!(row[0] > row[7]);
        }
        let small = idct_2x2(&block);
        assert!(small[0] > small[1] && small[2] > small[3] && small[0] == small[2]);
    }

    #[test]
    fn fancy_upsampling_weights_the_nearer_sample() {
        let mut out = [0u8; 6];
        upsample_h2v1(&[0, 100, 200], &mut out);
        // Edges repeat; inner samples are (3 × near + far) / 4 with libjpeg's
        // alternating rounding.
        assert_eq!(out, [0, 25, 75, 125, 175, 200]);
    }

    #[test]
    fn grey_stays_grey_and_red_is_red() {
        let tables = YccTables::new();
        let mut rgb = [0u8; 6];
        tables.convert_row(&[77, 128], &[128, 128], &[128, 128], &mut rgb);
        assert_eq!(rgb, [77, 77, 77, 128, 128, 128]);
        // Pure red in JFIF YCbCr: Y 76, Cb 85, Cr 255.
        tables.convert_row(&[76], &[85], &[255], &mut rgb[..3]);
        assert_eq!(&rgb[..3], &[254, 0, 0]);
    }
}
