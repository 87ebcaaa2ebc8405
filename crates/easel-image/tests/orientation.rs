//! EXIF orientation 1–8: a stored image plus its tag must come out upright, with and
//! without shrink-on-load. Fixtures are built from the EXIF definition of each value
//! (where the stored 0th row and 0th column sit when displayed).

mod common;

use common::{close, decode, exif_tiff, jpeg, rgb, run, with_exif};

const RED: [u8; 3] = [220, 30, 30];
const GREEN: [u8; 3] = [30, 200, 30];
const BLUE: [u8; 3] = [30, 30, 220];
const WHITE: [u8; 3] = [245, 245, 245];

/// The upright picture: quadrants red (top-left), green (top-right), blue
/// (bottom-left), white (bottom-right).
fn upright(w: u32, h: u32, x: u32, y: u32) -> [u8; 3] {
    match (x < w / 2, y < h / 2) {
        (true, true) => RED,
        (false, true) => GREEN,
        (true, false) => BLUE,
        (false, false) => WHITE,
    }
}

/// The stored pixel (sx, sy) of an image tagged `o` shows upright pixel (ux, uy).
fn upright_of_stored(o: u16, w: u32, h: u32, sx: u32, sy: u32) -> (u32, u32) {
    match o {
        1 => (sx, sy),
        2 => (w - 1 - sx, sy),
        3 => (w - 1 - sx, h - 1 - sy),
        4 => (sx, h - 1 - sy),
        5 => (sy, sx),
        6 => (w - 1 - sy, sx),
        7 => (w - 1 - sy, h - 1 - sx),
        8 => (sy, h - 1 - sx),
        _ => unreachable!(),
    }
}

fn tagged_fixture(o: u16, w: u32, h: u32) -> Vec<u8> {
    let (sw, sh) = if o >= 5 { (h, w) } else { (w, h) };
    let stored = rgb(sw, sh, |sx, sy| {
        let (ux, uy) = upright_of_stored(o, w, h, sx, sy);
        upright(w, h, ux, uy)
    });
    with_exif(&jpeg(sw, sh, &stored), &exif_tiff(Some(o), None))
}

fn assert_upright(img: &image::RgbaImage, o: u16) {
    let (w, h) = img.dimensions();
    let at = |fx: f32, fy: f32| {
        img.get_pixel((w as f32 * fx) as u32, (h as f32 * fy) as u32)
            .0
    };
    for (fx, fy, want) in [
        (0.25, 0.25, RED),
        (0.75, 0.25, GREEN),
        (0.25, 0.75, BLUE),
        (0.75, 0.75, WHITE),
    ] {
        let got = at(fx, fy);
        assert!(
            close(got, want, 24),
            "orientation {o}: at ({fx},{fy}) got {got:?}, want {want:?}"
        );
    }
}

#[test]
fn every_orientation_comes_out_upright() {
    for o in 1..=8 {
        let out = run(&tagged_fixture(o, 96, 64), r#"{"output":{"format":"png"}}"#);
        assert_eq!((out.width, out.height), (96, 64), "orientation {o}");
        assert_upright(&decode(&out.bytes), o);
    }
}

#[test]
fn orientation_is_right_with_shrink_on_load() {
    // 1600x1200 upright, resized to fit 200x200: decoded at 1/4 or 1/8 scale.
    for o in 1..=8 {
        let out = run(
            &tagged_fixture(o, 1600, 1200),
            r#"{"ops":[{"op":"resize","width":200,"height":200}],"output":{"format":"png"}}"#,
        );
        assert_eq!((out.width, out.height), (200, 150), "orientation {o}");
        assert_upright(&decode(&out.bytes), o);
    }
}

#[test]
fn auto_orient_false_keeps_stored_layout() {
    let out = run(
        &tagged_fixture(6, 96, 64),
        r#"{"auto_orient":false,"output":{"format":"png"}}"#,
    );
    assert_eq!((out.width, out.height), (64, 96));
}

#[test]
fn png_exif_orientation_and_resize_give_the_upright_size() {
    // A stored 96×64 PNG tagged 6 is 64×96 upright; fitting it into 32×32 must give
    // 21×32, not the stored shape squeezed (the resize is planned after orienting).
    let (sw, sh) = (64, 96);
    let stored = rgb(sh, sw, |sx, sy| {
        let (ux, uy) = upright_of_stored(6, sw, sh, sx, sy);
        upright(sw, sh, ux, uy)
    });
    let mut bytes = Vec::new();
    let mut enc = image::codecs::png::PngEncoder::new(&mut bytes);
    image::ImageEncoder::set_exif_metadata(&mut enc, exif_tiff(Some(6), None)).unwrap();
    image::ImageEncoder::write_image(enc, &stored, sh, sw, image::ExtendedColorType::Rgb8).unwrap();
    let out = run(
        &bytes,
        r#"{"ops":[{"op":"resize","width":32,"height":32}],"output":{"format":"png"}}"#,
    );
    assert_eq!((out.width, out.height), (21, 32));
    assert_upright(&decode(&out.bytes), 6);
}
