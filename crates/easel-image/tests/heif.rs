//! HEIC/HEIF and AVIF input, made at test time by the reference encoders (`heif-enc`,
//! `avifenc`): sniffing by brand, header probing, decoding compared with the source
//! and with the JPEG path, 10-bit, alpha (straight and premultiplied), `irot`, EXIF
//! orientation, and Display P3 colour given as an ICC profile or as `nclx` code points.

mod common;

use common::tools::{avifenc, box_body, file_arg, heif_enc};
use common::{close, decode, exif_tiff, jpeg, opaque, photo, png, rgb, rgba, run, ssim, with_exif};
use easel_image::{Format, Limits, decode_rgba, probe, sniff};
use image::{ExtendedColorType, RgbaImage};

const W: u32 = 192;
const H: u32 = 128;

fn source_png() -> Vec<u8> {
    png(W, H, &photo(W, H), ExtendedColorType::Rgb8)
}

fn decoded(bytes: &[u8]) -> RgbaImage {
    decode_rgba(bytes, &Limits::default()).unwrap().1
}

#[test]
fn heic_is_sniffed_probed_and_decoded_like_its_source() {
    let src = source_png();
    let heic = heif_enc(&src, &["-q", "90"]);
    assert_eq!(sniff(&heic), Some(Format::Heic));
    let info = probe(&heic).unwrap();
    assert_eq!((info.format, info.width, info.height), (Format::Heic, W, H));
    let img = decoded(&heic);
    assert_eq!(img.dimensions(), (W, H));
    let score = ssim(&img, &decode(&src));
    assert!(score >= 0.98, "SSIM {score}");
}

#[test]
fn heic_decodes_like_the_jpeg_path_on_the_same_source() {
    let px = photo(W, H);
    let via_jpeg = run(&jpeg(W, H, &px), r#"{"output":{"format":"png"}}"#);
    let heic = heif_enc(&png(W, H, &px, ExtendedColorType::Rgb8), &["-q", "90"]);
    let via_heic = run(&heic, r#"{"output":{"format":"png"}}"#);
    assert_eq!((via_heic.width, via_heic.height), (W, H));
    let score = ssim(&decode(&via_heic.bytes), &decode(&via_jpeg.bytes));
    assert!(score >= 0.98, "SSIM {score}");
}

#[test]
fn heic_output_defaults_to_jpeg_and_avif_stays_avif() {
    let src = source_png();
    let out = run(&heif_enc(&src, &[]), "{}");
    assert_eq!(out.format, Format::Jpeg);
    assert_eq!(sniff(&out.bytes), Some(Format::Jpeg));
    let out = run(&avifenc(&src, &[]), "{}");
    assert_eq!(out.format, Format::Avif);
    assert_eq!(sniff(&out.bytes), Some(Format::Avif));
}

#[test]
fn avif_8_10_and_12_bit_decode_to_8_bit_like_the_source() {
    let src = source_png();
    for depth in ["8", "10", "12"] {
        let avif = avifenc(&src, &["-d", depth, "--min", "0", "--max", "12"]);
        let pixi = box_body(&avif, b"pixi").expect("avifenc writes pixi");
        assert_eq!(
            pixi[5].to_string(),
            depth,
            "the fixture really is {depth}-bit"
        );
        assert_eq!(sniff(&avif), Some(Format::Avif));
        let img = decoded(&avif);
        assert_eq!(img.dimensions(), (W, H), "{depth}-bit");
        let score = ssim(&img, &decode(&src));
        assert!(score >= 0.98, "{depth}-bit: SSIM {score}");
    }
}

/// Left half opaque orange, right half orange at alpha 100.
fn half_transparent() -> Vec<u8> {
    let px = rgba(96, 64, |x, _| {
        [200, 100, 50, if x < 48 { 255 } else { 100 }]
    });
    png(96, 64, &px, ExtendedColorType::Rgba8)
}

fn assert_half_transparent(img: &RgbaImage, what: &str) {
    let (left, right) = (img.get_pixel(10, 30).0, img.get_pixel(80, 30).0);
    assert!(left[3] >= 250, "{what}: left {left:?}");
    assert!(right[3].abs_diff(100) <= 4, "{what}: right {right:?}");
    assert!(close(right, [200, 100, 50], 8), "{what}: right {right:?}");
}

#[test]
fn alpha_survives_heic_and_avif_and_reaches_png_output() {
    let src = half_transparent();
    let lossless_alpha = ["--minalpha", "0", "--maxalpha", "0"];
    for (what, file) in [
        ("heic", heif_enc(&src, &["-q", "95"])),
        ("avif", avifenc(&src, &lossless_alpha)),
    ] {
        assert_half_transparent(&decoded(&file), what);
        let out = run(&file, r#"{"output":{"format":"png"}}"#);
        assert_half_transparent(&decode(&out.bytes), what);
    }
}

#[test]
fn premultiplied_alpha_is_returned_straight() {
    // Stored premultiplied, the right half's orange would read about (78, 39, 20).
    let args = ["-p", "-y", "444", "--min", "0", "--max", "0"];
    let avif = avifenc(
        &half_transparent(),
        &[&args[..], &["--minalpha", "0", "--maxalpha", "0"]].concat(),
    );
    assert_half_transparent(&decoded(&avif), "premultiplied");
}

/// 96×64 stored: left half red, right half blue.
fn red_blue() -> Vec<u8> {
    let px = rgba(96, 64, |x, _| {
        if x < 48 {
            [220, 30, 30, 255]
        } else {
            [30, 30, 220, 255]
        }
    });
    png(96, 64, &px, ExtendedColorType::Rgba8)
}

fn is_red(p: [u8; 4]) -> bool {
    close(p, [220, 30, 30], 30)
}

#[test]
fn irot_is_applied_once_and_probe_reports_the_rotated_size() {
    // irot 1 = 90° anticlockwise: the left (red) half ends up at the bottom.
    let avif = avifenc(&red_blue(), &["--irot", "1"]);
    let info = probe(&avif).unwrap();
    assert_eq!((info.width, info.height), (64, 96));
    let img = decoded(&avif);
    assert_eq!(img.dimensions(), (64, 96));
    assert!(is_red(img.get_pixel(32, 80).0) && !is_red(img.get_pixel(32, 15).0));
    // auto_orient has nothing to undo: the rotation is part of the HEIF image.
    let out = run(&avif, r#"{"auto_orient":false,"output":{"format":"png"}}"#);
    assert_eq!((out.width, out.height), (64, 96));
}

#[test]
fn exif_orientation_is_ignored_where_heif_transforms_rule() {
    let dir = tempfile::tempdir().unwrap();
    let exif = file_arg(&dir, "exif.tiff", &exif_tiff(Some(6), None));
    // iPhone style: irot carries the rotation and EXIF repeats the camera's
    // orientation (6 = turn 90° clockwise to display). Honouring both would turn the
    // picture twice; the result must be exactly irot's.
    let both = avifenc(&red_blue(), &["--exif", &exif]);
    assert_eq!(
        box_body(&both, b"irot"),
        Some(&[3u8][..]),
        "irot 3 = 270° anticlockwise"
    );
    assert!(both.windows(4).any(|w| w == b"Exif"), "EXIF kept");
    let img = decoded(&both);
    assert_eq!(img.dimensions(), (64, 96));
    assert!(is_red(img.get_pixel(32, 15).0) && !is_red(img.get_pixel(32, 80).0));
    // EXIF orientation alone (heif-enc 1.15 keeps a JPEG's tag and writes no irot)
    // leaves the stored layout, as browsers and libvips show it.
    let px = rgba(96, 64, |x, _| {
        if x < 48 {
            [220, 30, 30, 255]
        } else {
            [30, 30, 220, 255]
        }
    });
    let rgb: Vec<u8> = px
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    let tagged = with_exif(&jpeg(96, 64, &rgb), &exif_tiff(Some(6), None));
    let heic = heif_enc(&tagged, &[]);
    assert!(box_body(&heic, b"irot").is_none() && heic.windows(4).any(|w| w == b"Exif"));
    let out = run(&heic, r#"{"output":{"format":"png"}}"#);
    assert_eq!((out.width, out.height), (96, 64));
    assert!(is_red(decode(&out.bytes).get_pixel(10, 32).0));
}

/// Display P3 (D65, sRGB curve) → sRGB, computed independently of moxcms.
fn p3_to_srgb(c: [u8; 3]) -> [u8; 3] {
    let lin = |v: u8| {
        let v = f64::from(v) / 255.0;
        if v <= 0.04045 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    let l = [lin(c[0]), lin(c[1]), lin(c[2])];
    // Linear Display P3 → linear sRGB (both D65).
    let m = [
        [1.224_940_2, -0.224_940_2, 0.0],
        [-0.042_056_9, 1.042_056_9, 0.0],
        [-0.019_637_6, -0.078_636_1, 1.098_273_7],
    ];
    let enc = |v: f64| {
        let v = v.clamp(0.0, 1.0);
        let e = if v <= 0.003_130_8 {
            12.92 * v
        } else {
            1.055 * v.powf(1.0 / 2.4) - 0.055
        };
        (e * 255.0).round() as u8
    };
    let row = |r: [f64; 3]| enc(r[0] * l[0] + r[1] * l[1] + r[2] * l[2]);
    [row(m[0]), row(m[1]), row(m[2])]
}

/// A 64×64 JPEG of the test colour with `icc` in an APP2 `ICC_PROFILE` segment
/// (heif-enc 1.15 carries a JPEG's profile, not a PNG's).
fn jpeg_with_icc(icc: &[u8]) -> Vec<u8> {
    let plain = jpeg(64, 64, &rgb(64, 64, |_, _| [60, 170, 90]));
    let mut seg = vec![0xFF, 0xE2];
    seg.extend_from_slice(&((2 + 14 + icc.len()) as u16).to_be_bytes());
    seg.extend_from_slice(b"ICC_PROFILE\0\x01\x01");
    seg.extend_from_slice(icc);
    [&plain[..2], &seg, &plain[2..]].concat()
}

#[test]
fn display_p3_becomes_srgb_from_an_icc_profile_or_nclx() {
    let colour = [60, 170, 90];
    let want = p3_to_srgb(colour);
    assert!(
        !close([colour[0], colour[1], colour[2], 255], want, 6),
        "P3 and sRGB differ here"
    );
    let px = png(
        64,
        64,
        &rgba(64, 64, |_, _| [60, 170, 90, 255]),
        ExtendedColorType::Rgba8,
    );
    let dir = tempfile::tempdir().unwrap();
    let p3 = moxcms::ColorProfile::new_display_p3().encode().unwrap();
    let icc = file_arg(&dir, "p3.icc", &p3);
    let near_lossless = ["-y", "444", "--min", "0", "--max", "2"];
    let cases = [
        (
            "avif icc",
            avifenc(&px, &[&near_lossless[..], &["--icc", &icc]].concat()),
        ),
        (
            "avif nclx 12/13/6",
            avifenc(&px, &[&near_lossless[..], &["--cicp", "12/13/6"]].concat()),
        ),
        (
            "heic icc",
            heif_enc(&jpeg_with_icc(&p3), &["-q", "98", "-p", "chroma=444"]),
        ),
        (
            "avif nclx 1/13/6 (sRGB)",
            avifenc(&px, &[&near_lossless[..], &["--cicp", "1/13/6"]].concat()),
        ),
    ];
    for (what, file) in cases {
        let got = opaque(&decoded(&file)).get_pixel(32, 32).0;
        let expect = if what.contains("sRGB") { colour } else { want };
        assert!(
            close(got, expect, 4),
            "{what}: got {got:?}, want {expect:?}"
        );
    }
}

/// An `ftyp` box with `major` and `compatible` brands, then a `free` box.
fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
    let mut out = ((16 + 4 * compatible.len()) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(b"ftyp");
    out.extend_from_slice(major);
    out.extend_from_slice(&[0; 4]);
    compatible.iter().for_each(|b| out.extend_from_slice(*b));
    out.extend_from_slice(b"\0\0\0\x08free");
    out
}

#[test]
fn brands_decide_between_heic_heif_and_avif() {
    type Case<'a> = (&'a [u8; 4], &'a [&'a [u8; 4]], Option<Format>);
    let cases: [Case; 9] = [
        (b"heic", &[b"mif1", b"heic"], Some(Format::Heic)),
        (b"heix", &[b"mif1"], Some(Format::Heic)),
        (b"mif1", &[b"mif1", b"hevc"], Some(Format::Heic)),
        (b"avif", &[b"mif1", b"miaf"], Some(Format::Avif)),
        (b"mif1", &[b"mif1", b"avif", b"heic"], Some(Format::Avif)),
        (b"avis", &[b"msf1"], Some(Format::Avif)),
        (b"mif1", &[b"mif1", b"miaf"], Some(Format::Heif)),
        (b"msf1", &[], Some(Format::Heif)),
        (b"isom", &[b"isom", b"mp42"], None),
    ];
    for (major, compatible, want) in cases {
        let name = String::from_utf8_lossy(major);
        assert_eq!(sniff(&ftyp(major, compatible)), want, "major {name}");
    }
    // A brand past the end of the ftyp box does not count.
    let mut short = ftyp(b"isom", &[b"avif"]);
    short[3] = 16;
    assert_eq!(sniff(&short), None);
}

#[test]
fn media_types_and_extensions() {
    for (format, mime, ext) in [
        (Format::Heic, "image/heic", "heic"),
        (Format::Heif, "image/heif", "heif"),
        (Format::Avif, "image/avif", "avif"),
    ] {
        assert_eq!((format.mime(), format.extension()), (mime, ext));
        assert_eq!(Format::from_mime(&format!("{mime}; q=1")), Some(format));
        assert_eq!(format.to_string(), ext);
        assert!(format.matches_mime(mime));
    }
    // Phones and browsers label the same HEVC file either way.
    assert!(Format::Heic.matches_mime("image/heif") && Format::Heif.matches_mime("image/heic"));
    assert!(!Format::Avif.matches_mime("image/heif") && !Format::Heic.matches_mime("image/avif"));
    assert!(!Format::Png.matches_mime("image/jpeg") && Format::Jpeg.matches_mime("image/jpg"));
    assert!(Format::Avif.can_encode() && !Format::Heic.can_encode() && !Format::Heif.can_encode());
}

#[test]
fn a_generic_heif_brand_decodes_too() {
    let heic = heif_enc(&source_png(), &["-q", "90"]);
    let mut heif = heic.clone();
    let brands = u32::from_be_bytes(heif[0..4].try_into().unwrap()) as usize;
    for at in (8..brands).step_by(4) {
        if &heif[at..at + 4] == b"heic" {
            heif[at..at + 4].copy_from_slice(b"mif1");
        }
    }
    assert_eq!(sniff(&heif), Some(Format::Heif));
    let out = run(&heif, "{}");
    assert_eq!((out.format, out.width, out.height), (Format::Jpeg, W, H));
    assert_eq!(
        out.bytes,
        run(&heic, "{}").bytes,
        "the brand changes nothing else"
    );
}
