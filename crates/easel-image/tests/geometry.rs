//! Resize modes, enlarge rules, gravity crops, smart crop, rotate/flip/flop, blur and
//! sharpen, checked on generated images.

mod common;

use common::{close, decode, jpeg, png, rgb, run};
use image::ExtendedColorType;

fn flat_png(w: u32, h: u32) -> Vec<u8> {
    png(
        w,
        h,
        &rgb(w, h, |_, _| [128, 128, 128]),
        ExtendedColorType::Rgb8,
    )
}

fn dims(input: &[u8], json: &str) -> (u32, u32) {
    let out = run(input, json);
    let img = decode(&out.bytes);
    assert_eq!(
        img.dimensions(),
        (out.width, out.height),
        "reported size matches the file"
    );
    (out.width, out.height)
}

#[test]
fn fit_fill_exact_sizes() {
    let src = flat_png(400, 300);
    let r = |body: &str| dims(&src, &format!(r#"{{"ops":[{{"op":"resize",{body}}}]}}"#));
    assert_eq!(r(r#""width":200,"height":200"#), (200, 150));
    assert_eq!(r(r#""width":100"#), (100, 75));
    assert_eq!(r(r#""height":60"#), (80, 60));
    assert_eq!(r(r#""width":256,"height":256,"mode":"fill""#), (256, 256));
    assert_eq!(r(r#""width":100,"height":30,"mode":"exact""#), (100, 30));
}

#[test]
fn no_enlarging_unless_asked() {
    let src = flat_png(100, 50);
    let r = |body: &str| dims(&src, &format!(r#"{{"ops":[{{"op":"resize",{body}}}]}}"#));
    assert_eq!(r(r#""width":800,"height":800"#), (100, 50));
    assert_eq!(r(r#""width":200,"height":200,"enlarge":true"#), (200, 100));
    // fill without enlarging keeps the box's shape where the image allows it
    assert_eq!(r(r#""width":80,"height":80,"mode":"fill""#), (80, 50));
    assert_eq!(
        r(r#""width":400,"height":400,"mode":"fill","enlarge":true"#),
        (400, 400)
    );
}

/// Left third red, middle third green, right third blue; 300x100.
fn thirds() -> Vec<u8> {
    png(
        300,
        100,
        &rgb(300, 100, |x, _| match x / 100 {
            0 => [255, 0, 0],
            1 => [0, 255, 0],
            _ => [0, 0, 255],
        }),
        ExtendedColorType::Rgb8,
    )
}

#[test]
fn fill_crops_by_gravity() {
    let cases = [
        ("west", [255, 0, 0]),
        ("center", [0, 255, 0]),
        ("east", [0, 0, 255]),
    ];
    for (gravity, want) in cases {
        let out = run(
            &thirds(),
            &format!(
                r#"{{"ops":[{{"op":"resize","width":50,"height":50,"mode":"fill","gravity":"{gravity}"}}]}}"#
            ),
        );
        let img = decode(&out.bytes);
        assert_eq!(img.dimensions(), (50, 50));
        for x in [5, 25, 45] {
            let p = img.get_pixel(x, 25).0;
            assert!(close(p, want, 10), "{gravity}: x={x} got {p:?}");
        }
    }
}

#[test]
fn crop_by_compass_points_on_a_tall_image() {
    // 60x180: top third red, middle green, bottom blue.
    let src = png(
        60,
        180,
        &rgb(60, 180, |_, y| match y / 60 {
            0 => [255, 0, 0],
            1 => [0, 255, 0],
            _ => [0, 0, 255],
        }),
        ExtendedColorType::Rgb8,
    );
    for (gravity, want) in [
        ("north", [255, 0, 0]),
        ("northwest", [255, 0, 0]),
        ("south", [0, 0, 255]),
        ("southeast", [0, 0, 255]),
        ("center", [0, 255, 0]),
    ] {
        let out = run(
            &src,
            &format!(r#"{{"ops":[{{"op":"crop","width":60,"height":60,"gravity":"{gravity}"}}]}}"#),
        );
        let img = decode(&out.bytes);
        assert_eq!(img.dimensions(), (60, 60));
        assert!(close(img.get_pixel(30, 30).0, want, 0), "{gravity}");
        assert!(close(img.get_pixel(30, 1).0, want, 0), "{gravity} top edge");
        assert!(
            close(img.get_pixel(30, 58).0, want, 0),
            "{gravity} bottom edge"
        );
    }
    let out = run(
        &src,
        r#"{"ops":[{"op":"crop","x":10,"y":110,"width":20,"height":20}]}"#,
    );
    let img = decode(&out.bytes);
    assert_eq!(img.dimensions(), (20, 20));
    assert!(close(img.get_pixel(10, 5).0, [0, 255, 0], 0));
    assert!(close(img.get_pixel(10, 15).0, [0, 0, 255], 0));
}

#[test]
fn smart_crop_finds_the_detailed_region() {
    // Flat grey everywhere except a busy, saturated checkerboard near the left edge,
    // away from the centre the plain crop would pick.
    let src = png(
        600,
        200,
        &rgb(600, 200, |x, y| {
            if (40..160).contains(&x) && (40..160).contains(&y) {
                if (x / 8 + y / 8) % 2 == 0 {
                    [250, 200, 0]
                } else {
                    [0, 40, 200]
                }
            } else {
                [120, 120, 120]
            }
        }),
        ExtendedColorType::Rgb8,
    );
    let out = run(
        &src,
        r#"{"ops":[{"op":"resize","width":200,"height":200,"mode":"fill","gravity":"smart"}]}"#,
    );
    let img = decode(&out.bytes);
    assert_eq!(img.dimensions(), (200, 200));
    let busy = img
        .pixels()
        .filter(|p| !close(p.0, [120, 120, 120], 6))
        .count();
    assert_eq!(
        busy,
        120 * 120,
        "the whole 120x120 checkerboard is inside the smart crop"
    );
    let center = run(
        &src,
        r#"{"ops":[{"op":"resize","width":200,"height":200,"mode":"fill"}]}"#,
    );
    let grey_center = decode(&center.bytes)
        .pixels()
        .filter(|p| close(p.0, [120, 120, 120], 6))
        .count();
    assert_eq!(
        grey_center,
        200 * 200,
        "the centre crop of this fixture is all background"
    );
}

#[test]
fn rotate_flip_flop_move_pixels() {
    // 40x20, a red pixel block at the top-left corner, the rest black.
    let src = png(
        40,
        20,
        &rgb(40, 20, |x, y| {
            if x < 4 && y < 4 {
                [255, 0, 0]
            } else {
                [0, 0, 0]
            }
        }),
        ExtendedColorType::Rgb8,
    );
    let red_corner = |json: &str| -> ((u32, u32), (u32, u32)) {
        let img = decode(&run(&src, json).bytes);
        let b = common::bbox(&img, |p| p[0] > 200).unwrap();
        (img.dimensions(), (b.0, b.1))
    };
    assert_eq!(
        red_corner(r#"{"ops":[{"op":"rotate","degrees":90}]}"#),
        ((20, 40), (16, 0))
    );
    assert_eq!(
        red_corner(r#"{"ops":[{"op":"rotate","degrees":180}]}"#),
        ((40, 20), (36, 16))
    );
    assert_eq!(
        red_corner(r#"{"ops":[{"op":"rotate","degrees":270}]}"#),
        ((20, 40), (0, 36))
    );
    assert_eq!(
        red_corner(r#"{"ops":[{"op":"flip"}]}"#),
        ((40, 20), (0, 16))
    );
    assert_eq!(
        red_corner(r#"{"ops":[{"op":"flop"}]}"#),
        ((40, 20), (36, 0))
    );
}

#[test]
fn blur_softens_and_sharpen_strengthens_an_edge() {
    let src = png(
        64,
        16,
        &rgb(64, 16, |x, _| {
            if x < 32 {
                [40, 40, 40]
            } else {
                [200, 200, 200]
            }
        }),
        ExtendedColorType::Rgb8,
    );
    let row = |json: &str| -> Vec<u8> {
        let img = decode(&run(&src, json).bytes);
        (0..64).map(|x| img.get_pixel(x, 8).0[0]).collect()
    };
    let blurred = row(r#"{"ops":[{"op":"blur","sigma":3}]}"#);
    assert!(
        blurred[31] > 60 && blurred[32] < 180,
        "edge softened: {:?}",
        &blurred[28..36]
    );
    assert_eq!(blurred[0], 40, "far from the edge nothing changes");
    let sharp = row(r#"{"ops":[{"op":"sharpen","sigma":1.5,"amount":1.5}]}"#);
    assert!(
        sharp[31] < 40 && sharp[32] > 200,
        "overshoot on both sides: {:?}",
        &sharp[28..36]
    );
}

#[test]
fn shrink_on_load_keeps_the_exact_target_size() {
    // 2000x1333 JPEG decoded at reduced scale must still give exactly the planned size.
    let src = jpeg(
        2000,
        1333,
        &rgb(2000, 1333, |x, y| [(x % 256) as u8, (y % 256) as u8, 90]),
    );
    assert_eq!(
        dims(
            &src,
            r#"{"ops":[{"op":"resize","width":300,"height":300}]}"#
        ),
        (300, 200)
    );
    assert_eq!(
        dims(
            &src,
            r#"{"ops":[{"op":"resize","width":256,"height":256,"mode":"fill"}]}"#
        ),
        (256, 256)
    );
    assert_eq!(
        dims(
            &src,
            r#"{"ops":[{"op":"rotate","degrees":90},{"op":"resize","width":300}]}"#
        ),
        (300, 450)
    );
}
