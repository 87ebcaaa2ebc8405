//! Progressive JPEGs decoded at 1/4 or 1/2 scale without libjpeg-turbo's entropy
//! decoder, which spends most of a large progressive photo's decoding time testing
//! coefficients one at a time in its refinement scans (`decode_mcu_AC_refine`: 44 % of
//! the image benchmark's task (a), see bench/RESULTS.md).
//!
//! The result is exactly what libjpeg-turbo returns for the same file and scale: the
//! same coefficients ([`scans`]), the same reduced IDCT, upsampling and colour
//! conversion ([`output`]). This path takes only what it reproduces exactly (8-bit
//! Huffman progressive YCbCr, 4:4:4, 4:2:2 or 4:2:0, a complete progression so that
//! no block smoothing applies) and returns `None` for anything else, or for anything
//! libjpeg-turbo would warn about (damaged data, a bogus progression, a missing restart
//! marker); the caller then decodes the file with libjpeg-turbo as before, so what is
//! accepted or refused, and every warning, stays libjpeg-turbo's.

mod bits;
mod output;
mod scans;

use bits::Huffman;
use output::{YccTables, dc_only, idct_2x2, idct_4x4, idct_8x8, upsample_h2v1};
use scans::{KEPT_2X2, KEPT_4X4, KEPT_8X8, Plane, Scan, ScanComponent, ZIGZAG_OF, decode_scan};

/// An RGB image decoded at reduced scale.
pub(super) struct Decoded {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

const SOF2: u8 = 0xC2;
const DHT: u8 = 0xC4;
const RST0: u8 = 0xD0;
const RST7: u8 = 0xD7;
const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const DQT: u8 = 0xDB;
const DRI: u8 = 0xDD;
const APP0: u8 = 0xE0;
const APP14: u8 = 0xEE;
const APP15: u8 = 0xEF;
const COM: u8 = 0xFE;

/// A frame component (SOF2).
struct Component {
    id: u8,
    h: usize,
    v: usize,
    quant_table: usize,
    /// The quantizers latched when the component's first scan starts (as
    /// libjpeg-turbo does), zigzag order, as the IDCT's 16-bit signed multipliers.
    quant: Option<[i16; 64]>,
    /// Successive-approximation state of each coefficient (-1: not seen yet).
    coef_bits: [i32; 64],
    blocks_wide: usize,
    blocks_high: usize,
    /// The reduced IDCT's size at the decode's scale (jdmaster.c's choice).
    idct_size: usize,
    upsampling: Upsampling,
    /// Samples per row after the IDCT (`downsampled_width` in jdsample.c).
    downsampled_width: usize,
}

/// Decodes `jpeg` at `1/denom` scale (`denom` 2 or 4) into RGB, or `None` when the
/// file is not one this path reproduces exactly (see the module comment).
pub(super) fn decode_scaled(jpeg: &[u8], denom: usize, max_scans: u32) -> Option<Decoded> {
    if !matches!(denom, 2 | 4) || jpeg.get(..2)? != [0xFF, SOI] {
        return None;
    }
    let mut quant_tables: [Option<[u16; 64]>; 4] = [None; 4];
    let mut dc_tables: [Option<Huffman>; 4] = [None, None, None, None];
    let mut ac_tables: [Option<Huffman>; 4] = [None, None, None, None];
    let mut restart_interval = 0u32;
    let mut frame: Option<(usize, usize, Vec<Component>)> = None;
    let mut planes: Vec<Plane> = Vec::new();
    let mut scans = 0u32;
    let mut marker = next_marker(jpeg, 2)?;
    loop {
        let (code, pos) = marker;
        match code {
            EOI => break,
            RST0..=RST7 => {
                marker = next_marker(jpeg, pos)?;
                continue;
            }
            _ => {}
        }
        let length = usize::from(u16::from_be_bytes([*jpeg.get(pos)?, *jpeg.get(pos + 1)?]));
        if length < 2 {
            return None;
        }
        let end = pos + length;
        let segment = jpeg.get(pos + 2..end)?;
        match code {
            APP0..=APP15 | COM => {
                if code == APP14 && segment.starts_with(b"Adobe") {
                    return None; // Adobe's transform flag decides the colour space
                }
                // libjpeg-turbo warns about (and so refuses) a JFIF version 2 or later.
                if code == APP0
                    && segment.len() >= 14
                    && segment.starts_with(b"JFIF\0")
                    && segment[5] != 1
                {
                    return None;
                }
            }
            DQT => read_dqt(segment, &mut quant_tables)?,
            DHT => read_dht(segment, &mut dc_tables, &mut ac_tables)?,
            DRI => restart_interval = u32::from(u16::from_be_bytes(segment.try_into().ok()?)),
            SOF2 => {
                if frame.is_some() {
                    return None;
                }
                let (width, height, components) = read_sof(segment, denom)?;
                planes = allocate_planes(width, height, &components)?;
                frame = Some((width, height, components));
            }
            SOS => {
                scans += 1;
                if scans > max_scans {
                    return None;
                }
                let (width, height, components) = frame.as_mut()?;
                let scan = read_sos(
                    segment,
                    (*width, *height),
                    components,
                    &quant_tables,
                    &dc_tables,
                    &ac_tables,
                    restart_interval,
                )?;
                marker = decode_scan(jpeg, end, &scan, &mut planes)?;
                continue;
            }
            // Baseline, extended, lossless or arithmetic frames, DNL, and markers this
            // path does not expect.
            _ => return None,
        }
        marker = next_marker(jpeg, end)?;
    }
    let (width, height, components) = frame?;
    // A complete progression for DC and the first nine AC coefficients of every
    // component: otherwise libjpeg-turbo smooths blocks (jdcoefct.c smoothing_ok).
    if components
        .iter()
        .any(|c| c.coef_bits[..10].iter().any(|&b| b != 0))
    {
        return None;
    }
    render(width, height, denom, &components, &planes)
}

/// The marker at or after `pos` (after 0xFF fill bytes) and the position after it;
/// anything but a marker there is refused.
fn next_marker(jpeg: &[u8], pos: usize) -> Option<(u8, usize)> {
    if *jpeg.get(pos)? != 0xFF {
        return None;
    }
    let mut pos = pos + 1;
    while *jpeg.get(pos)? == 0xFF {
        pos += 1;
    }
    match jpeg[pos] {
        0 => None,
        code => Some((code, pos + 1)),
    }
}

fn read_dqt(mut segment: &[u8], tables: &mut [Option<[u16; 64]>; 4]) -> Option<()> {
    while let Some((&spec, rest)) = segment.split_first() {
        let (precision, slot) = (spec >> 4, usize::from(spec & 15));
        let size = if precision == 0 { 64 } else { 128 };
        if precision > 1 || slot > 3 || rest.len() < size {
            return None;
        }
        let mut table = [0u16; 64];
        for (k, value) in table.iter_mut().enumerate() {
            *value = if precision == 0 {
                u16::from(rest[k])
            } else {
                u16::from_be_bytes([rest[2 * k], rest[2 * k + 1]])
            };
        }
        tables[slot] = Some(table);
        segment = &rest[size..];
    }
    Some(())
}

fn read_dht(
    mut segment: &[u8],
    dc: &mut [Option<Huffman>; 4],
    ac: &mut [Option<Huffman>; 4],
) -> Option<()> {
    while let Some((&spec, rest)) = segment.split_first() {
        let (class, slot) = (spec >> 4, usize::from(spec & 15));
        let counts: &[u8; 16] = rest.get(..16)?.try_into().ok()?;
        let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
        let symbols = rest.get(16..16 + total)?;
        if class > 1 || slot > 3 {
            return None;
        }
        let table = Huffman::new(counts, symbols, class == 0)?;
        if class == 0 {
            dc[slot] = Some(table);
        } else {
            ac[slot] = Some(table);
        }
        segment = &rest[16 + total..];
    }
    Some(())
}

/// The frame header; `None` for a layout this path does not reproduce at `1/denom`.
fn read_sof(segment: &[u8], denom: usize) -> Option<(usize, usize, Vec<Component>)> {
    let [precision, h1, h0, w1, w0, count, ref specs @ ..] = *segment else {
        return None;
    };
    let height = usize::from(u16::from_be_bytes([h1, h0]));
    let width = usize::from(u16::from_be_bytes([w1, w0]));
    if precision != 8 || count != 3 || specs.len() != 9 || width == 0 || height == 0 {
        return None;
    }
    let mut components: Vec<Component> = specs
        .chunks_exact(3)
        .map(|spec| Component {
            id: spec[0],
            h: usize::from(spec[1] >> 4),
            v: usize::from(spec[1] & 15),
            quant_table: usize::from(spec[2]),
            quant: None,
            coef_bits: [-1; 64],
            blocks_wide: 0,
            blocks_high: 0,
            idct_size: 0,
            upsampling: Upsampling::None,
            downsampled_width: 0,
        })
        .collect();
    let ids: Vec<u8> = components.iter().map(|c| c.id).collect();
    // 'R', 'G', 'B' component ids mean RGB to libjpeg-turbo (without JFIF).
    if ids == b"RGB" || ids[0] == ids[1] || ids[1] == ids[2] || ids[0] == ids[2] {
        return None;
    }
    // Luma 1x1, 2x1 or 2x2 and chroma 1x1: 4:4:4, 4:2:2 and 4:2:0, the layouts the
    // tests compare with libjpeg-turbo.
    let luma = (components[0].h, components[0].v);
    if !matches!(luma, (1, 1) | (2, 1) | (2, 2))
        || components[1..].iter().any(|c| (c.h, c.v) != (1, 1))
        || components.iter().any(|c| c.quant_table > 3)
    {
        return None;
    }
    let max_h = components.iter().map(|c| c.h).max()?;
    let max_v = components.iter().map(|c| c.v).max()?;
    let min_size = 8 / denom;
    for c in &mut components {
        c.blocks_wide = (width * c.h).div_ceil(max_h).div_ceil(8);
        c.blocks_high = (height * c.v).div_ceil(max_v).div_ceil(8);
        // jdmaster.c: scale chroma up through the IDCT where the factors allow.
        let mut size = min_size;
        while size < 8
            && (max_h * min_size).is_multiple_of(c.h * size * 2)
            && (max_v * min_size).is_multiple_of(c.v * size * 2)
        {
            size *= 2;
        }
        c.idct_size = size;
        c.downsampled_width = (width * c.h * size).div_ceil(max_h * 8);
        // jdsample.c: how the component reaches the output grid.
        let (h_in, v_in) = (c.h * size / min_size, c.v * size / min_size);
        c.upsampling = if h_in == max_h && v_in == max_v {
            Upsampling::None
        } else if h_in * 2 == max_h && v_in == max_v && c.downsampled_width > 2 {
            Upsampling::Horizontal
        } else {
            return None;
        };
    }
    Some((width, height, components))
}

/// MCUs across and down (an interleaved scan's grid).
fn mcus(width: usize, height: usize, components: &[Component]) -> (usize, usize) {
    let max_h = components.iter().map(|c| c.h).max().unwrap_or(1);
    let max_v = components.iter().map(|c| c.v).max().unwrap_or(1);
    (width.div_ceil(8 * max_h), height.div_ceil(8 * max_v))
}

fn allocate_planes(width: usize, height: usize, components: &[Component]) -> Option<Vec<Plane>> {
    let (mcus_wide, mcus_high) = mcus(width, height, components);
    components
        .iter()
        .map(|c| {
            let kept = match c.idct_size {
                2 => &KEPT_2X2,
                4 => &KEPT_4X4,
                _ => &KEPT_8X8,
            };
            Plane::new(mcus_wide * c.h, mcus_high * c.v, kept)
        })
        .collect()
}

fn read_sos<'t>(
    segment: &[u8],
    (width, height): (usize, usize),
    components: &mut [Component],
    quant_tables: &[Option<[u16; 64]>; 4],
    dc_tables: &'t [Option<Huffman>; 4],
    ac_tables: &'t [Option<Huffman>; 4],
    restart_interval: u32,
) -> Option<Scan<'t>> {
    let (&count, rest) = segment.split_first()?;
    let count = usize::from(count);
    if !(1..=4).contains(&count) || rest.len() != 2 * count + 3 {
        return None;
    }
    let (specs, tail) = rest.split_at(2 * count);
    let (ss, se) = (u32::from(tail[0]), u32::from(tail[1]));
    let (ah, al) = (u32::from(tail[2] >> 4), u32::from(tail[2] & 15));
    // jdphuff.c start_pass_phuff_decoder: the checks it errors or warns on.
    let dc_scan = ss == 0;
    let bad_band = if dc_scan {
        se != 0
    } else {
        ss > se || se > 63 || count != 1
    };
    if bad_band || (ah != 0 && al + 1 != ah) || al > 13 {
        return None;
    }
    let (mcus_wide, mcus_high) = mcus(width, height, components);
    let mut scan_components = Vec::with_capacity(count);
    for spec in specs.chunks_exact(2) {
        let index = components.iter().position(|c| c.id == spec[0])?;
        if scan_components
            .iter()
            .any(|s: &ScanComponent<'_>| s.plane == index)
        {
            return None;
        }
        let component = &mut components[index];
        if !dc_scan && component.coef_bits[0] < 0 {
            return None; // AC before any DC scan
        }
        for bits in &mut component.coef_bits[ss as usize..=se as usize] {
            if ah != (*bits).max(0) as u32 {
                return None;
            }
            *bits = al as i32;
        }
        if component.quant.is_none() {
            let table = quant_tables[component.quant_table]?;
            component.quant = Some(table.map(|q| q as i16));
        }
        let (dc, ac) = (usize::from(spec[1] >> 4), usize::from(spec[1] & 15));
        let dc_table = if dc_scan && ah == 0 {
            Some(dc_tables.get(dc)?.as_ref()?)
        } else {
            None
        };
        let ac_table = if dc_scan {
            None
        } else {
            Some(ac_tables.get(ac)?.as_ref()?)
        };
        scan_components.push(ScanComponent {
            plane: index,
            h: component.h,
            v: component.v,
            blocks_wide: component.blocks_wide,
            blocks_high: component.blocks_high,
            dc_table,
            ac_table,
        });
    }
    Some(Scan {
        components: scan_components,
        ss,
        se,
        ah,
        al,
        restart_interval,
        mcus_wide,
        mcus_high,
    })
}

/// How a component reaches the output grid (jdsample.c's choice).
#[derive(Clone, Copy, PartialEq)]
enum Upsampling {
    None,
    /// `h2v1_fancy_upsample`.
    Horizontal,
}

/// Runs the reduced IDCTs, the upsampling and the colour conversion.
fn render(
    width: usize,
    height: usize,
    denom: usize,
    components: &[Component],
    planes: &[Plane],
) -> Option<Decoded> {
    let out_width = width.div_ceil(denom);
    let out_height = height.div_ceil(denom);
    let samples: Vec<Vec<u8>> = components
        .iter()
        .zip(planes)
        .map(|(component, plane)| inverse_dct(component, plane))
        .collect::<Option<_>>()?;
    let tables = YccTables::new();
    let mut rgb = Vec::new();
    rgb.try_reserve_exact(out_width * out_height * 3).ok()?;
    rgb.resize(out_width * out_height * 3, 0);
    let mut rows: Vec<Vec<u8>> = components
        .iter()
        .map(|c| vec![0u8; (2 * c.downsampled_width).max(out_width)])
        .collect();
    for (y, out_row) in rgb.chunks_exact_mut(out_width * 3).enumerate() {
        for ((component, pixels), row) in components.iter().zip(&samples).zip(&mut rows) {
            let stride = component.blocks_wide * component.idct_size;
            let line = pixels.get(y * stride..(y + 1) * stride)?;
            match component.upsampling {
                Upsampling::None => row[..out_width].copy_from_slice(line.get(..out_width)?),
                Upsampling::Horizontal => {
                    upsample_h2v1(line.get(..component.downsampled_width)?, row)
                }
            }
        }
        tables.convert_row(&rows[0][..out_width], &rows[1], &rows[2], out_row);
    }
    Some(Decoded {
        width: out_width,
        height: out_height,
        rgb,
    })
}

/// One component's samples at its scaled size: `blocks_wide × idct_size` wide.
fn inverse_dct(component: &Component, plane: &Plane) -> Option<Vec<u8>> {
    let size = component.idct_size;
    let quant = component.quant.as_ref()?;
    // The quantizers in natural order, as `DEQUANTIZE` multiplies.
    let natural_quant: [i32; 64] = std::array::from_fn(|n| i32::from(quant[ZIGZAG_OF[n]]));
    let kept = plane.kept;
    let stride = component.blocks_wide * size;
    let mut pixels = Vec::new();
    pixels
        .try_reserve_exact(stride * component.blocks_high * size)
        .ok()?;
    pixels.resize(stride * component.blocks_high * size, 0);
    let mut block = [0i32; 64];
    for by in 0..component.blocks_high {
        for bx in 0..component.blocks_wide {
            let index = by * plane.blocks_wide + bx;
            let origin = by * size * stride + bx * size;
            let dc = i32::from(plane.dc[index]) * natural_quant[0];
            if plane.nonzero[index] & kept.mask == 0 {
                // Smooth areas: only DC reaches the output, one value for the block.
                let flat = dc_only(dc);
                for row in 0..size {
                    pixels[origin + row * stride..][..size].fill(flat);
                }
                continue;
            }
            block[0] = dc;
            for (&value, &natural) in plane.block_ac(index).iter().zip(&kept.natural) {
                let natural = usize::from(natural);
                block[natural] = i32::from(value) * natural_quant[natural];
            }
            let mut put = |samples: &[u8]| {
                for (row, line) in samples.chunks_exact(size).enumerate() {
                    pixels[origin + row * stride..][..size].copy_from_slice(line);
                }
            };
            match size {
                2 => put(&idct_2x2(&block)),
                4 => put(&idct_4x4(&block)),
                _ => put(&idct_8x8(&block)),
            }
        }
    }
    Some(pixels)
}

#[cfg(test)]
mod tests {
    use super::decode_scaled;
    use std::path::Path;
    use std::process::Command;
    use turbojpeg::{Compressor, Decompressor, Image, PixelFormat, ScalingFactor, Subsamp};

    const PHOTOS: &str = "/usr/share/backgrounds/mate";

    /// libjpeg-turbo's RGB decode at `1/denom`, as Easel's JPEG path runs it; `None`
    /// where it fails or warns.
    fn libjpeg(jpeg: &[u8], denom: usize) -> Option<(usize, usize, Vec<u8>)> {
        let mut dec = Decompressor::new().ok()?;
        dec.set_scan_limit(256).ok()?;
        let header = dec.read_header(jpeg).ok()?;
        let factor = ScalingFactor::new(1, denom);
        dec.set_scaling_factor(factor).ok()?;
        let scaled = header.scaled(factor);
        let mut pixels = vec![0; scaled.width * scaled.height * 3];
        let image = Image {
            pixels: pixels.as_mut_slice(),
            width: scaled.width,
            pitch: scaled.width * 3,
            height: scaled.height,
            format: PixelFormat::RGB,
        };
        dec.decompress(jpeg, image).ok()?;
        Some((scaled.width, scaled.height, pixels))
    }

    /// Whatever this path returns must be libjpeg-turbo's own result, byte for byte;
    /// returns whether it took the file.
    fn same_or_declined(jpeg: &[u8], denom: usize, what: &str) -> bool {
        let Some(ours) = decode_scaled(jpeg, denom, 256) else {
            return false;
        };
        let (width, height, theirs) = libjpeg(jpeg, denom)
            .unwrap_or_else(|| panic!("{what}: taken here, refused by libjpeg-turbo"));
        assert_eq!((ours.width, ours.height), (width, height), "{what}: size");
        if let Some(at) = ours.rgb.iter().zip(&theirs).position(|(a, b)| a != b) {
            let pixel = at / 3;
            panic!(
                "{what} at 1/{denom}: first difference at pixel ({}, {}), channel {}: {} vs libjpeg-turbo {}",
                pixel % width,
                pixel / width,
                at % 3,
                ours.rgb[at],
                theirs[at]
            );
        }
        true
    }

    fn assert_same(jpeg: &[u8], denom: usize, what: &str) {
        assert!(
            same_or_declined(jpeg, denom, what),
            "{what} at 1/{denom}: declined"
        );
    }

    /// Real photo content: LadyBird decoded at 1/2 (1280×800), RGB.
    fn photo() -> (usize, usize, Vec<u8>) {
        let jpeg =
            std::fs::read(Path::new(PHOTOS).join("nature/LadyBird.jpg")).expect("mate-backgrounds");
        libjpeg(&jpeg, 2).expect("LadyBird decodes")
    }

    /// A progressive JPEG of the `width`×`height` top-left crop of `photo`.
    fn progressive(
        photo: &(usize, usize, Vec<u8>),
        width: usize,
        height: usize,
        subsamp: Subsamp,
        quality: i32,
    ) -> Vec<u8> {
        let (full_width, _, pixels) = photo;
        let crop: Vec<u8> = pixels
            .chunks_exact(full_width * 3)
            .take(height)
            .flat_map(|row| &row[..width * 3])
            .copied()
            .collect();
        let mut compressor = Compressor::new().unwrap();
        compressor.set_quality(quality).unwrap();
        compressor.set_subsamp(subsamp).unwrap();
        compressor.set_progressive(true).unwrap();
        let image = Image {
            pixels: crop.as_slice(),
            width,
            pitch: width * 3,
            height,
            format: PixelFormat::RGB,
        };
        compressor.compress_to_vec(image).unwrap()
    }

    /// `jpegtran` (libjpeg-turbo-progs) run over `jpeg` with `args`.
    fn jpegtran(jpeg: &[u8], args: &[&str]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.jpg");
        std::fs::write(&input, jpeg).unwrap();
        let output = Command::new("jpegtran")
            .args(args)
            .arg(&input)
            .output()
            .expect("jpegtran (apt-get install libjpeg-turbo-progs; scripts/install-deps does)");
        assert!(
            output.status.success(),
            "jpegtran {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    #[test]
    fn real_progressive_photos_decode_as_libjpeg_turbo_does() {
        // Elephants: 1920x1080 4:4:4 and 3840x2160 4:2:2, both progressive.
        for name in ["Elephants.jpg", "Elephants_3840x2160.jpg"] {
            let jpeg = std::fs::read(Path::new(PHOTOS).join("abstract").join(name))
                .expect("mate-backgrounds");
            for denom in [4, 2] {
                assert_same(&jpeg, denom, name);
            }
        }
    }

    #[test]
    fn encoder_output_of_every_taken_layout_and_odd_sizes() {
        let photo = photo();
        let sizes = [
            (1280, 800),
            (1001, 799),
            (37, 23),
            (17, 9),
            (8, 8),
            (3, 5),
            (1, 1),
        ];
        for (width, height) in sizes {
            for (subsamp, quality) in [
                (Subsamp::None, 95),
                (Subsamp::Sub2x1, 75),
                (Subsamp::Sub2x2, 40),
            ] {
                let jpeg = progressive(&photo, width, height, subsamp, quality);
                for denom in [4, 2] {
                    let what = format!("{width}x{height} {subsamp:?} q{quality}");
                    let taken = same_or_declined(&jpeg, denom, &what);
                    // A 4:2:2 chroma row of one or two samples is upsampled
                    // differently: left to libjpeg-turbo. Everything else must be
                    // taken (4:2:0 at 1/2 through the 8x8 IDCT for chroma).
                    let chroma_width = (width * 8 / denom).div_ceil(16);
                    let expected = match subsamp {
                        Subsamp::Sub2x1 => chroma_width > 2,
                        _ => true,
                    };
                    assert_eq!(taken, expected, "{what} at 1/{denom}");
                }
            }
        }
    }

    #[test]
    fn declines_layouts_it_does_not_reproduce() {
        let photo = photo();
        for subsamp in [Subsamp::Sub1x2, Subsamp::Gray] {
            let jpeg = progressive(&photo, 640, 480, subsamp, 80);
            assert!(decode_scaled(&jpeg, 4, 256).is_none(), "{subsamp:?}");
        }
        let baseline = turbojpeg::compress(
            Image {
                pixels: &photo.2[..64 * 64 * 3],
                width: 64,
                pitch: 64 * 3,
                height: 64,
                format: PixelFormat::RGB,
            },
            80,
            Subsamp::Sub2x2,
        )
        .unwrap();
        assert!(decode_scaled(&baseline, 4, 256).is_none(), "baseline");
        let jpeg = progressive(&photo, 640, 480, Subsamp::Sub2x2, 80);
        assert!(
            decode_scaled(&jpeg, 8, 256).is_none(),
            "1/8 has its own path"
        );
        assert!(
            decode_scaled(&jpeg, 4, 5).is_none(),
            "more scans than the limit"
        );
    }

    #[test]
    fn restart_markers_and_unusual_scan_scripts() {
        let photo = photo();
        let jpeg = progressive(&photo, 1001, 777, Subsamp::Sub2x1, 85);
        let dir = tempfile::tempdir().unwrap();
        // Deep successive approximation, and spectral selection without it.
        let scripts = [
            "0,1,2: 0-0, 0, 2; 0: 1-5, 0, 3; 1: 1-63, 0, 2; 2: 1-63, 0, 2; 0: 6-63, 0, 3;
             0,1,2: 0-0, 2, 1; 0,1,2: 0-0, 1, 0; 0: 1-63, 3, 2; 0: 1-63, 2, 1; 1: 1-63, 2, 1;
             2: 1-63, 2, 1; 0: 1-63, 1, 0; 1: 1-63, 1, 0; 2: 1-63, 1, 0;",
            "0: 0-0, 0, 0; 1: 0-0, 0, 0; 2: 0-0, 0, 0; 0: 1-2, 0, 0; 0: 3-20, 0, 0;
             0: 21-63, 0, 0; 2: 1-63, 0, 0; 1: 1-63, 0, 0;",
        ];
        for (i, script) in scripts.iter().enumerate() {
            let path = dir.path().join(format!("scans{i}.txt"));
            std::fs::write(&path, script).unwrap();
            let path = path.to_str().unwrap();
            for restart in ["0", "1", "3B"] {
                let variant = jpegtran(&jpeg, &["-scans", path, "-restart", restart]);
                for denom in [4, 2] {
                    assert_same(&variant, denom, &format!("script {i}, restart {restart}"));
                }
            }
        }
    }

    #[test]
    fn an_incomplete_progression_is_left_to_libjpeg_turbo() {
        // No AC refinement: libjpeg-turbo smooths the blocks, which this path does not.
        let photo = photo();
        let jpeg = progressive(&photo, 320, 240, Subsamp::None, 85);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scans.txt");
        std::fs::write(
            &path,
            "0,1,2: 0-0, 0, 0; 0: 1-63, 0, 1; 1: 1-63, 0, 1; 2: 1-63, 0, 1;",
        )
        .unwrap();
        let coarse = jpegtran(&jpeg, &["-scans", path.to_str().unwrap()]);
        assert!(libjpeg(&coarse, 4).is_some());
        assert!(decode_scaled(&coarse, 4, 256).is_none());
    }

    #[test]
    fn damaged_files_are_declined_or_decode_exactly_as_libjpeg_turbo_does() {
        let photo = photo();
        let jpeg = progressive(&photo, 200, 150, Subsamp::Sub2x1, 80);
        assert_same(&jpeg, 4, "intact, no restarts");
        for r in ["1", "1B", "3B", "2B"] {
            assert_same(&jpegtran(&jpeg, &["-progressive", "-restart", r]), 4, r);
        }
        let jpeg = jpegtran(&jpeg, &["-progressive", "-restart", "2B"]);
        assert_same(&jpeg, 4, "intact");
        for cut in (2..jpeg.len()).step_by(97) {
            assert!(
                !same_or_declined(&jpeg[..cut], 4, &format!("cut at {cut}")),
                "cut at {cut}"
            );
        }
        let (mut taken, mut declined) = (0, 0);
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for round in 0..400 {
            let mut damaged = jpeg.clone();
            for _ in 0..1 + round % 3 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = (seed % damaged.len() as u64) as usize;
                damaged[at] ^= 1 << ((seed >> 40) % 8);
            }
            if same_or_declined(&damaged, 4, &format!("damage round {round}")) {
                taken += 1;
            } else {
                declined += 1;
            }
        }
        // Both outcomes occur: damage inside the coded data often still decodes (to the
        // same pixels as libjpeg-turbo's), damage to markers and tables is declined.
        assert!(
            taken > 20 && declined > 20,
            "taken {taken}, declined {declined}"
        );
    }
}
