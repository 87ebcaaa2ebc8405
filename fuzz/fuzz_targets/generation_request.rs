//! The generation request model behind `POST /v1/generations`, `/imagegenApi` and
//! `/model/{id}/invoke`: a JSON body validated with Titan's or Nova's rules (the first
//! input byte picks the family). Refusals must name a JSON pointer; an accepted request
//! must keep every limit the model states; and the Bedrock body rebuilt from it must
//! parse back to the same request (the engines forward that body).
#![no_main]

use easel_engines::request::{GenerationRequest, Mask, ModelFamily, Task, parse};
use easel_engines::to_bedrock_body;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Titan's fixed sizes (Nova's are checked by rule).
const TITAN_SIZES: &[(u32, u32)] = &[
    (1024, 1024),
    (768, 768),
    (512, 512),
    (768, 1152),
    (384, 576),
    (1152, 768),
    (576, 384),
    (768, 1280),
    (384, 640),
    (1280, 768),
    (640, 384),
    (896, 1152),
    (448, 576),
    (1152, 896),
    (576, 448),
    (768, 1408),
    (384, 704),
    (1408, 768),
    (704, 384),
    (640, 1408),
    (320, 704),
    (1408, 640),
    (704, 320),
    (1152, 640),
    (1173, 640),
];

/// Above this many canvas pixels the rebuilt body is not checked: padding a large
/// outpainting canvas re-encodes a PNG, too slow for a fuzz iteration.
const ROUND_TRIP_MAX_PIXELS: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, json)) = data.split_first() else {
        return;
    };
    let Ok(body) = serde_json::from_slice::<Value>(json) else {
        return;
    };
    let family = if pick & 1 == 0 {
        ModelFamily::Titan
    } else {
        ModelFamily::Nova
    };
    match parse(&body, family) {
        Err(violation) => {
            assert!(violation.pointer.starts_with('#'), "{violation:?}");
            assert!(!violation.message.is_empty(), "{violation:?}");
        }
        Ok(request) => {
            check_limits(&request, family);
            round_trip(&request, family);
        }
    }
});

fn check_limits(request: &GenerationRequest, family: ModelFamily) {
    let config = &request.config;
    let max_text = match family {
        ModelFamily::Titan => 512,
        ModelFamily::Nova => 1024,
    };
    let max_seed = match family {
        ModelFamily::Titan => 2_147_483_646,
        ModelFamily::Nova => 858_993_459,
    };
    assert_eq!(request.family, family);
    assert!((1..=5).contains(&config.number_of_images), "{config:?}");
    assert!((1.1..=10.0).contains(&config.cfg_scale), "{config:?}");
    assert!(u64::from(config.seed) <= max_seed, "{config:?}");
    assert!((1..=4096).contains(&config.width) && (1..=4096).contains(&config.height));
    let texts = [request.task.text(), negative_text(&request.task)];
    for text in texts.into_iter().flatten() {
        assert!((1..=max_text).contains(&text.chars().count()), "{text:?}");
    }
    let size = (config.width, config.height);
    match &request.task {
        Task::Inpainting { image, mask, .. } => {
            assert_eq!(size, image.pixels.dimensions());
            check_mask(mask, image.pixels.dimensions());
        }
        Task::BackgroundRemoval { image } => assert_eq!(size, image.pixels.dimensions()),
        Task::Outpainting { image, mask, .. } => {
            let (w, h) = image.pixels.dimensions();
            assert!(size.0 >= w && size.1 >= h, "{size:?} < {w}x{h}");
            check_mask(mask, (w, h));
        }
        Task::ImageVariation {
            images,
            similarity_strength,
            ..
        } => {
            assert!((1..=5).contains(&images.len()));
            assert!((0.2..=1.0).contains(similarity_strength));
            check_generated_size(size, family);
        }
        Task::ColorGuided { colors, .. } => {
            assert!((1..=10).contains(&colors.len()));
            check_generated_size(size, family);
        }
        Task::TextImage { .. } => check_generated_size(size, family),
    }
}

fn negative_text(task: &Task) -> Option<&str> {
    match task {
        Task::TextImage { negative_text, .. }
        | Task::Inpainting { negative_text, .. }
        | Task::Outpainting { negative_text, .. }
        | Task::ImageVariation { negative_text, .. }
        | Task::ColorGuided { negative_text, .. } => negative_text.as_deref(),
        Task::BackgroundRemoval { .. } => None,
    }
}

fn check_mask(mask: &Mask, image: (u32, u32)) {
    if let Mask::Image { masked, .. } = mask {
        assert_eq!(masked.dimensions(), image, "the mask is the image's size");
    }
}

fn check_generated_size((w, h): (u32, u32), family: ModelFamily) {
    match family {
        ModelFamily::Titan => assert!(TITAN_SIZES.contains(&(w, h)), "{w}x{h}"),
        ModelFamily::Nova => {
            assert!(
                (320..=4096).contains(&w) && (320..=4096).contains(&h),
                "{w}x{h}"
            );
            assert!(w % 16 == 0 && h % 16 == 0, "{w}x{h}");
            assert!(u64::from(w) * u64::from(h) <= 4_194_304, "{w}x{h}");
            assert!(w.max(h) <= 4 * w.min(h), "{w}x{h}");
        }
    }
}

/// The Bedrock body parses back to the request; a padded outpainting canvas (the image
/// grows to the canvas) comes back as a fixed point instead.
fn round_trip(request: &GenerationRequest, family: ModelFamily) {
    let config = &request.config;
    if u64::from(config.width) * u64::from(config.height) > ROUND_TRIP_MAX_PIXELS {
        return;
    }
    let rebuilt = to_bedrock_body(request);
    let mut again = parse(&rebuilt, family)
        .unwrap_or_else(|v| panic!("the rebuilt body is refused: {v}\n{rebuilt}"));
    if matches!(request.task, Task::BackgroundRemoval { .. }) {
        // No config is sent for it, so the seed is drawn afresh.
        again.config.seed = config.seed;
    }
    assert!(again.config.seed_given || matches!(request.task, Task::BackgroundRemoval { .. }));
    again.config.seed_given = config.seed_given;
    let padded = match &request.task {
        Task::Outpainting { image, .. } => {
            image.pixels.dimensions() != (config.width, config.height)
        }
        _ => false,
    };
    if padded {
        assert_eq!(
            (again.config.width, again.config.height),
            (config.width, config.height)
        );
        assert_eq!(to_bedrock_body(&again), rebuilt, "padding is a fixed point");
    } else {
        assert_eq!(again, *request, "{rebuilt}");
    }
}
