//! Watermark placement and scaling across landscape and portrait images: the mark's
//! size follows the image width, its position follows gravity and margin.

mod common;

use common::{bbox, decode, png, rgb, rgba, run};
use image::ExtendedColorType;

fn black(w: u32, h: u32) -> Vec<u8> {
    png(w, h, &rgb(w, h, |_, _| [0, 0, 0]), ExtendedColorType::Rgb8)
}

fn b64(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in bytes.chunks(3) {
        let n = u32::from(c[0]) << 16
            | u32::from(*c.get(1).unwrap_or(&0)) << 8
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

fn text_box(w: u32, h: u32, extra: &str) -> (u32, u32, u32, u32) {
    let json = format!(
        r#"{{"ops":[{{"op":"watermark_text","text":"EASEL","size":0.1,"opacity":1,"margin":0.05{extra}}}]}}"#
    );
    let img = decode(&run(&black(w, h), &json).bytes);
    bbox(&img, |p| p[0] > 128).expect("text drawn")
}

#[test]
fn text_scales_with_width_and_sits_at_gravity() {
    let land = text_box(800, 400, "");
    let port = text_box(400, 800, "");
    let (lw, lh) = (land.2 - land.0, land.3 - land.1);
    let (pw, ph) = (port.2 - port.0, port.3 - port.1);
    // Same relative size: the 800-wide image's text is twice as big as the 400-wide one's.
    assert!(
        (f64::from(lw) / f64::from(pw) - 2.0).abs() < 0.1,
        "widths {lw} vs {pw}"
    );
    assert!(
        (f64::from(lh) / f64::from(ph) - 2.0).abs() < 0.15,
        "heights {lh} vs {ph}"
    );
    // Cap height of an 80 px font is around 58 px.
    assert!((50..=66).contains(&lh), "text height {lh}");
    // Southeast with a 5% margin: right edge ~40 px from the right, bottom near 360.
    assert!((755..=762).contains(&land.2), "right edge {}", land.2);
    assert!(land.3 > 340 && land.3 <= 362, "bottom {}", land.3);
    assert!(
        (375..=381).contains(&port.2),
        "portrait right edge {}",
        port.2
    );
    assert!(port.3 > 770 && port.3 <= 781, "portrait bottom {}", port.3);
}

#[test]
fn text_gravity_northwest_and_colour() {
    let json = r##"{"ops":[{"op":"watermark_text","text":"Hi","size":0.2,"opacity":1,"gravity":"northwest","margin":0.1,"color":"#00ff00"}]}"##;
    let img = decode(&run(&black(200, 200), json).bytes);
    let b = bbox(&img, |p| p[1] > 128).unwrap();
    assert!(
        b.0 >= 20 && b.0 <= 26 && b.1 >= 20 && b.1 <= 32,
        "top-left at {b:?}"
    );
    assert!(
        bbox(&img, |p| p[0] > 60 || p[2] > 60).is_none(),
        "only green was drawn"
    );
}

#[test]
fn opacity_blends() {
    let json = r#"{"ops":[{"op":"watermark_image","png":"MARK","scale":0.5,"opacity":0.5,"gravity":"center","margin":0}]}"#;
    let mark = png(
        10,
        10,
        &rgba(10, 10, |_, _| [255, 255, 255, 255]),
        ExtendedColorType::Rgba8,
    );
    let img = decode(&run(&black(100, 100), &json.replace("MARK", &b64(&mark))).bytes);
    let p = img.get_pixel(50, 50).0;
    assert!(
        (120..=135).contains(&p[0]),
        "half-opaque white over black: {p:?}"
    );
}

fn red_mark() -> String {
    // 40x20 red with a transparent border 2 px wide.
    let m = rgba(40, 20, |x, y| {
        if (2..38).contains(&x) && (2..18).contains(&y) {
            [255, 0, 0, 255]
        } else {
            [0, 0, 0, 0]
        }
    });
    b64(&png(40, 20, &m, ExtendedColorType::Rgba8))
}

fn image_box(w: u32, h: u32, extra: &str) -> (u32, u32, u32, u32) {
    let json = format!(
        r#"{{"ops":[{{"op":"watermark_image","png":"{}","scale":0.25,"opacity":1,"margin":0.05{extra}}}]}}"#,
        red_mark()
    );
    let img = decode(&run(&black(w, h), &json).bytes);
    bbox(&img, |p| p[0] > 128).expect("mark drawn")
}

#[test]
fn image_mark_scales_with_width_across_orientations() {
    // Landscape 800 wide: mark 200x100 (its red core 180x80), 40 px margin.
    let land = image_box(800, 400, "");
    assert_eq!((land.2 - land.0, land.3 - land.1), (180, 80), "{land:?}");
    assert_eq!((land.2, land.3), (800 - 40 - 10, 400 - 40 - 10));
    // Portrait 400 wide: mark 100x50 (core 90x40), 20 px margin.
    let port = image_box(400, 800, "");
    assert_eq!((port.2 - port.0, port.3 - port.1), (90, 40), "{port:?}");
    assert_eq!((port.2, port.3), (400 - 20 - 5, 800 - 20 - 5));
    let nw = image_box(400, 800, r#","gravity":"northwest""#);
    assert_eq!((nw.0, nw.1), (20 + 5, 20 + 5));
}

#[test]
fn tiling_covers_the_whole_image() {
    let json = format!(
        r#"{{"ops":[{{"op":"watermark_image","png":"{}","scale":0.1,"opacity":1,"tile":true,"margin":0.02}}]}}"#,
        red_mark()
    );
    let img = decode(&run(&black(600, 600), &json).bytes);
    for (qx, qy) in [(0, 0), (300, 0), (0, 300), (300, 300)] {
        let red = (qx..qx + 300)
            .flat_map(|x| (qy..qy + 300).map(move |y| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0[0] > 128)
            .count();
        assert!(red > 3000, "quadrant ({qx},{qy}) has {red} red pixels");
    }
    let text = run(
        &black(600, 300),
        r#"{"ops":[{"op":"watermark_text","text":"x","tile":true,"opacity":1}]}"#,
    );
    let img = decode(&text.bytes);
    let b = bbox(&img, |p| p[0] > 128).unwrap();
    assert!(
        b.0 < 60 && b.2 > 540 && b.1 < 40 && b.3 > 260,
        "tiles span the image: {b:?}"
    );
}
