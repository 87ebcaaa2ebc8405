//! The classic engine on synthetic scenes made here: stripes, a gradient and a texture
//! with a square removed. Quality is PSNR inside the hole against the ground truth,
//! compared with the obvious baseline (filling with the mean of the hole's border).

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use easel_engines::classic::{FillParams, fill};
use easel_engines::request::{ModelFamily, parse};
use easel_engines::{ClassicEngine, Engine, EngineError, NoProgress};
use image::{GrayImage, Luma, Rgb, RgbImage, Rgba, RgbaImage};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const SIZE: u32 = 128;

fn stripes() -> RgbImage {
    RgbImage::from_fn(SIZE, SIZE, |x, _| {
        if (x / 4) % 2 == 0 {
            Rgb([230, 40, 40])
        } else {
            Rgb([20, 20, 200])
        }
    })
}

fn gradient() -> RgbImage {
    RgbImage::from_fn(SIZE, SIZE, |x, y| Rgb([(x * 2) as u8, (y * 2) as u8, 100]))
}

fn texture() -> RgbImage {
    // A tiled 16×16 pseudo-random tile: the fill should find the period.
    let tile = |x: u32, y: u32| {
        let h = (x % 16).wrapping_mul(73_856_093) ^ (y % 16).wrapping_mul(19_349_663);
        (h % 251) as u8
    };
    RgbImage::from_fn(SIZE, SIZE, |x, y| {
        Rgb([tile(x, y), tile(y, x), tile(x + 3, y + 5)])
    })
}

/// A centred square hole covering about 10% of the image.
fn square_hole() -> GrayImage {
    let side = (f64::from(SIZE * SIZE) * 0.10).sqrt() as u32;
    let start = (SIZE - side) / 2;
    GrayImage::from_fn(SIZE, SIZE, |x, y| {
        let inside = (start..start + side).contains(&x) && (start..start + side).contains(&y);
        Luma([if inside { 255 } else { 0 }])
    })
}

fn psnr_in_hole(a: &RgbImage, b: &RgbImage, hole: &GrayImage) -> f64 {
    let mut sum = 0.0;
    let mut n = 0.0;
    for (x, y, m) in hole.enumerate_pixels() {
        if m.0[0] != 0 {
            for c in 0..3 {
                let d = f64::from(a.get_pixel(x, y).0[c]) - f64::from(b.get_pixel(x, y).0[c]);
                sum += d * d;
                n += 1.0;
            }
        }
    }
    let mse = sum / n;
    if mse == 0.0 {
        99.0
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// The baseline: every hole pixel becomes the mean colour of the pixels bordering it.
fn mean_fill(image: &RgbImage, hole: &GrayImage) -> RgbImage {
    let mut sum = [0.0f64; 3];
    let mut n = 0.0;
    for (x, y, m) in hole.enumerate_pixels() {
        let border = m.0[0] == 0
            && [(1i32, 0i32), (-1, 0), (0, 1), (0, -1)]
                .iter()
                .any(|(dx, dy)| {
                    let (nx, ny) = (x as i32 + dx, y as i32 + dy);
                    nx >= 0
                        && ny >= 0
                        && nx < SIZE as i32
                        && ny < SIZE as i32
                        && hole.get_pixel(nx as u32, ny as u32).0[0] != 0
                });
        if border {
            for (total, value) in sum.iter_mut().zip(image.get_pixel(x, y).0) {
                *total += f64::from(value);
            }
            n += 1.0;
        }
    }
    let mean = Rgb([(sum[0] / n) as u8, (sum[1] / n) as u8, (sum[2] / n) as u8]);
    let mut out = image.clone();
    for (x, y, m) in hole.enumerate_pixels() {
        if m.0[0] != 0 {
            out.put_pixel(x, y, mean);
        }
    }
    out
}

fn punch(image: &RgbImage, hole: &GrayImage) -> RgbImage {
    let mut out = image.clone();
    for (x, y, m) in hole.enumerate_pixels() {
        if m.0[0] != 0 {
            out.put_pixel(x, y, Rgb([255, 0, 255]));
        }
    }
    out
}

#[test]
fn fills_synthetic_scenes_well_and_leaves_the_rest_alone() {
    let hole = square_hole();
    // (scene, minimum PSNR in the hole, minimum gain over the mean fill in dB)
    let scenes = [
        ("stripes", stripes(), 30.0, 15.0),
        ("gradient", gradient(), 24.0, 6.0),
        ("texture", texture(), 24.0, 10.0),
    ];
    for (name, truth, floor, gain) in scenes {
        let damaged = punch(&truth, &hole);
        let filled = fill(&damaged, &hole, FillParams::default(), &|| true, &|_, _| {}).unwrap();
        let ours = psnr_in_hole(&filled, &truth, &hole);
        let baseline = psnr_in_hole(&mean_fill(&damaged, &hole), &truth, &hole);
        println!("{name}: PatchMatch {ours:.1} dB, mean fill {baseline:.1} dB");
        assert!(ours >= floor, "{name}: {ours:.1} dB < {floor} dB");
        assert!(
            ours >= baseline + gain,
            "{name}: {ours:.1} dB is not {gain} dB better than {baseline:.1} dB"
        );
        for (x, y, m) in hole.enumerate_pixels() {
            if m.0[0] == 0 {
                assert_eq!(
                    filled.get_pixel(x, y),
                    damaged.get_pixel(x, y),
                    "{name}: ({x},{y}) changed"
                );
            }
        }
    }
}

#[test]
fn the_same_seed_repeats_exactly() {
    let hole = square_hole();
    let damaged = punch(&texture(), &hole);
    let run = |seed| {
        fill(
            &damaged,
            &hole,
            FillParams {
                seed,
                ..FillParams::default()
            },
            &|| true,
            &|_, _| {},
        )
        .unwrap()
    };
    assert_eq!(run(1), run(1));
}

#[test]
fn a_cancelled_fill_stops_promptly() {
    let big = RgbImage::from_fn(512, 512, |x, y| Rgb([(x ^ y) as u8, x as u8, y as u8]));
    let hole = GrayImage::from_fn(512, 512, |x, y| {
        Luma([if (150..350).contains(&x) && (150..350).contains(&y) {
            255
        } else {
            0
        }])
    });
    let started = Instant::now();
    let deadline = started + Duration::from_millis(50);
    let result = fill(
        &big,
        &hole,
        FillParams::default(),
        &|| Instant::now() < deadline,
        &|_, _| {},
    );
    assert!(result.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stopped after {:?}",
        started.elapsed()
    );
}

fn png_b64(image: &RgbaImage) -> String {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    STANDARD.encode(out.into_inner())
}

#[tokio::test]
async fn outpainting_extends_the_canvas_and_precise_keeps_the_image() {
    let source = RgbaImage::from_fn(64, 48, |x, y| Rgba([(x * 4) as u8, (y * 5) as u8, 90, 255]));
    // Outpainting's mask marks what to keep: all of it, in black.
    let keep = RgbaImage::from_pixel(64, 48, Rgba([0, 0, 0, 255]));
    let body = json!({
        "taskType": "OUTPAINTING",
        "outPaintingParams": { "image": png_b64(&source), "maskImage": png_b64(&keep), "text": "more", "outPaintingMode": "PRECISE" },
        "imageGenerationConfig": { "width": 96, "height": 80, "numberOfImages": 2, "seed": 5 }
    });
    let request = parse(&body, ModelFamily::Titan).unwrap();
    let images = ClassicEngine::default()
        .run(&request, &NoProgress, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(images.len(), 2);
    for image in &images {
        assert_eq!(image.pixels.dimensions(), (96, 80));
        for (x, y, p) in source.enumerate_pixels() {
            assert_eq!(
                image.pixels.get_pixel(x + 16, y + 16),
                p,
                "kept pixel ({x},{y}) changed"
            );
        }
        assert!(
            image.pixels.pixels().all(|p| p.0[3] == 255),
            "the new area is filled, opaque"
        );
    }
}

#[tokio::test]
async fn tasks_it_cannot_do_name_the_reason() {
    let text = parse(
        &json!({ "taskType": "TEXT_IMAGE", "textToImageParams": { "text": "a cat" } }),
        ModelFamily::Titan,
    )
    .unwrap();
    let error = ClassicEngine::default()
        .run(&text, &NoProgress, &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(error, EngineError::Unsupported { .. }));
    assert!(error.to_string().contains("TEXT_IMAGE"), "{error}");

    let image = png_b64(&RgbaImage::from_pixel(32, 32, Rgba([9, 9, 9, 255])));
    let prompt_mask = parse(&json!({ "taskType": "INPAINTING", "inPaintingParams": { "image": image, "maskPrompt": "the dog" } }), ModelFamily::Titan).unwrap();
    let error = ClassicEngine::default()
        .run(&prompt_mask, &NoProgress, &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("maskImage"), "{error}");
}

/// A hole that leaves known pixels only at the image's edge (where no whole patch fits)
/// still fills, from those pixels; the coarser level, where every 2x2 block touches the
/// hole, is skipped rather than searched forever. (A 64x64 OpenAI edit with one opaque
/// column hung a worker before.)
#[test]
fn a_hole_with_known_pixels_only_at_the_edge_fills_promptly() {
    let image = RgbImage::from_fn(64, 64, |x, _| {
        if x == 63 {
            Rgb([200, 120, 40])
        } else {
            Rgb([0, 0, 0])
        }
    });
    let hole = GrayImage::from_fn(64, 64, |x, _| Luma([if x < 63 { 255 } else { 0 }]));
    let started = Instant::now();
    let filled = fill(&image, &hole, FillParams::default(), &|| true, &|_, _| {}).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    for (x, y, p) in filled.enumerate_pixels() {
        assert_eq!(
            p,
            &Rgb([200, 120, 40]),
            "({x},{y}): copied from the one known column"
        );
    }
}

/// A hole over the whole image leaves nothing to copy: `fill` returns the image as it
/// is, and the engine refuses the request, saying why.
#[tokio::test]
async fn a_mask_over_the_whole_image_is_refused() {
    let image = RgbImage::from_pixel(32, 32, Rgb([9, 9, 9]));
    let everything = GrayImage::from_pixel(32, 32, Luma([255]));
    let same = fill(
        &image,
        &everything,
        FillParams::default(),
        &|| true,
        &|_, _| {},
    )
    .unwrap();
    assert_eq!(same, image);

    let source = png_b64(&RgbaImage::from_pixel(32, 32, Rgba([9, 9, 9, 255])));
    // Inpainting's mask marks what to change in black: all of it.
    let mask = png_b64(&RgbaImage::from_pixel(32, 32, Rgba([0, 0, 0, 255])));
    let body = json!({
        "taskType": "INPAINTING",
        "inPaintingParams": { "image": source, "maskImage": mask },
    });
    let request = parse(&body, ModelFamily::Titan).unwrap();
    let error = ClassicEngine::default()
        .run(&request, &NoProgress, &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(error, EngineError::InvalidInput(_)), "{error:?}");
    assert!(error.to_string().contains("whole image"), "{error}");
}
