//! Hostile and broken HEIC/AVIF: truncated and corrupted files give the same error
//! codes as the other formats, never a panic; a header claiming 100 000 × 100 000
//! pixels is refused by the pixel limit in milliseconds, before libheif runs.

mod common;

use std::time::{Duration, Instant};

use common::tools::{avifenc, heif_enc};
use common::{photo, png};
use easel_image::{ImageError, Limits, Pipeline, decode_rgba, probe, process, sniff};
use image::ExtendedColorType;

fn go(bytes: &[u8]) -> Result<easel_image::Output, ImageError> {
    let pipeline: Pipeline =
        serde_json::from_str(r#"{"ops":[{"op":"resize","width":32}],"output":{"format":"png"}}"#)
            .unwrap();
    process(bytes, &pipeline, &Limits::default())
}

/// A HEIC and an AVIF of the same 96×64 picture, with their names.
fn files() -> [(&'static str, Vec<u8>); 2] {
    let src = png(96, 64, &photo(96, 64), ExtendedColorType::Rgb8);
    [("heic", heif_enc(&src, &[])), ("avif", avifenc(&src, &[]))]
}

fn mdat(file: &[u8]) -> usize {
    file.windows(4).position(|w| w == b"mdat").unwrap()
}

#[test]
fn truncated_files_are_corrupt_wherever_they_end() {
    for (what, file) in files() {
        let m = mdat(&file);
        // In the header (no meta box yet), at the start of the coded data, half-way
        // through it, and one byte short.
        for cut in [24, m / 2, m + 10, (m + file.len()) / 2, file.len() - 1] {
            let e = go(&file[..cut]).unwrap_err();
            assert_eq!(e.code(), "corrupt-image", "{what} cut at {cut}: {e}");
        }
    }
}

#[test]
fn too_short_to_name_a_brand_is_an_unknown_format() {
    for (what, file) in files() {
        let e = go(&file[..10]).unwrap_err();
        assert_eq!(e.code(), "unsupported-format", "{what}: {e}");
    }
}

#[test]
fn corrupted_coded_data_is_corrupt() {
    for (what, file) in files() {
        let m = mdat(&file);
        for fill in [0x00u8, 0xFF, 0x55] {
            let mut bad = file.clone();
            bad[m + 4..].fill(fill);
            let e = go(&bad).unwrap_err();
            assert_eq!(
                e.code(),
                "corrupt-image",
                "{what} filled with {fill:#x}: {e}"
            );
            assert!(e.to_string().starts_with("decode"), "{e}");
        }
    }
}

#[test]
fn broken_header_boxes_are_corrupt() {
    for (what, file) in files() {
        // The primary item points at a property ipco does not have.
        let mut bad = file.clone();
        let ipma = bad.windows(4).position(|w| w == b"ipma").unwrap();
        let first_index = ipma + 4 + 4 + 4 + 2 + 1;
        bad[first_index] = 0x7f;
        let e = probe(&bad).unwrap_err();
        assert_eq!(e.code(), "corrupt-image", "{what}: {e}");
        // No size at all for the primary image.
        let mut bad = file.clone();
        let ispe = bad.windows(4).position(|w| w == b"ispe").unwrap();
        bad[ispe..ispe + 4].copy_from_slice(b"xxxx");
        let e = probe(&bad).unwrap_err();
        assert_eq!(e.code(), "corrupt-image", "{what}: {e}");
        assert!(e.to_string().contains("ispe"), "{e}");
    }
}

#[test]
fn a_video_container_is_named_not_decoded() {
    let mp4 = b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2\0\0\0\x08free";
    assert_eq!(sniff(mp4), None);
    let e = go(mp4).unwrap_err();
    assert_eq!(e.code(), "unsupported-format");
    assert!(e.to_string().contains("ISO media"), "{e}");
}

/// Rewrites the primary image's `ispe` to claim `w`×`h`.
fn claim(file: &[u8], w: u32, h: u32) -> Vec<u8> {
    let mut out = file.to_vec();
    let at = out.windows(4).position(|x| x == b"ispe").unwrap();
    out[at + 8..at + 12].copy_from_slice(&w.to_be_bytes());
    out[at + 12..at + 16].copy_from_slice(&h.to_be_bytes());
    out
}

/// Peak resident memory of this process so far, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_huge_claim_is_refused_from_the_header_quickly_and_cheaply() {
    for (what, file) in files() {
        let bomb = claim(&file, 100_000, 100_000);
        let before = peak_rss_kib();
        let start = Instant::now();
        let e = go(&bomb).unwrap_err();
        let e2 = decode_rgba(&bomb, &Limits::default()).unwrap_err();
        let elapsed = start.elapsed();
        assert!(
            elapsed < Duration::from_millis(50),
            "{what}: took {elapsed:?}"
        );
        // A decoded 100 000² RGBA image would be 40 GB; the header check needs nothing.
        let grown = peak_rss_kib() - before;
        assert!(grown < 32 * 1024, "{what}: peak RSS grew by {grown} KiB");
        for e in [e, e2] {
            assert_eq!(e.code(), "image-too-large", "{what}: {e}");
            assert!(e.to_string().contains("100000x100000"), "{e}");
        }
        let info = probe(&bomb).unwrap();
        assert_eq!((info.width, info.height), (100_000, 100_000));
    }
}

/// Rewrites the first `ispe` that declares `from` to declare `to` instead.
fn redeclare(file: &[u8], from: (u32, u32), to: (u32, u32)) -> Vec<u8> {
    let mut out = file.to_vec();
    let mut wanted = from.0.to_be_bytes().to_vec();
    wanted.extend_from_slice(&from.1.to_be_bytes());
    let at = out
        .windows(16)
        .position(|w| &w[4..8] == b"ispe" && w[12..16] == wanted[..4])
        .and_then(|p| (out[p + 16..p + 20] == wanted[4..]).then_some(p))
        .expect("an ispe declaring the size");
    out[at + 12..at + 16].copy_from_slice(&to.0.to_be_bytes());
    out[at + 16..at + 20].copy_from_slice(&to.1.to_be_bytes());
    out
}

/// The same picture from x265 (heif-enc), libaom through libavif (avifenc) and
/// libaom through libheif (Easel's own AVIF output).
fn three_encoders(w: u32, h: u32) -> [(&'static str, Vec<u8>); 3] {
    let src = png(w, h, &photo(w, h), ExtendedColorType::Rgb8);
    let ours = common::run(&src, r#"{"output":{"format":"avif"}}"#).bytes;
    [
        ("heif-enc", heif_enc(&src, &[])),
        ("avifenc", avifenc(&src, &[])),
        ("easel", ours),
    ]
}

#[test]
fn coding_more_pixels_than_declared_is_refused_before_decoding() {
    for (what, file) in three_encoders(512, 384) {
        let liar = redeclare(&file, (512, 384), (32, 32));
        let e = probe(&liar).unwrap_err();
        assert_eq!(e.code(), "corrupt-image", "{what}: {e}");
        assert!(e.to_string().contains("coded size 512x384"), "{what}: {e}");
        assert_eq!(go(&liar).unwrap_err(), e, "{what}");
    }
}

#[test]
fn odd_sizes_are_not_mistaken_for_lies() {
    // HEVC codes whole 8×8 blocks (104×64 here) and crops back when decoding.
    for (what, file) in three_encoders(97, 61) {
        let info = probe(&file).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!((info.width, info.height), (97, 61), "{what}");
        let out = go(&file).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!((out.width, out.height), (32, 20), "{what}");
    }
}

#[test]
fn a_grid_canvas_larger_than_declared_is_refused() {
    let src = png(128, 128, &photo(128, 128), ExtendedColorType::Rgb8);
    let grid = avifenc(&src, &["-g", "2x2"]);
    assert_eq!(probe(&grid).map(|i| (i.width, i.height)), Ok((128, 128)));
    assert_eq!(go(&grid).map(|o| (o.width, o.height)), Ok((32, 32)));
    let liar = redeclare(&grid, (128, 128), (32, 32));
    let e = probe(&liar).unwrap_err();
    assert_eq!(e.code(), "corrupt-image", "{e}");
    assert!(e.to_string().contains("grid canvas size 128x128"), "{e}");
}
