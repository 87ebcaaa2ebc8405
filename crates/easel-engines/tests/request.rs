//! The request model: a table of bad requests, each with Bedrock's exact message, and the
//! typed results of good ones.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use easel_engines::request::{Mask, ModelFamily, OutpaintMode, Task, parse};
use image::{Rgba, RgbaImage};
use serde_json::{Value, json};

fn png(width: u32, height: u32, paint: impl Fn(u32, u32) -> [u8; 4]) -> String {
    let image = RgbaImage::from_fn(width, height, |x, y| Rgba(paint(x, y)));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    STANDARD.encode(out.into_inner())
}

fn gray(width: u32, height: u32) -> String {
    png(width, height, |_, _| [120, 120, 120, 255])
}

/// Black square in the middle: the area to change.
fn mask(width: u32, height: u32) -> String {
    png(width, height, |x, y| {
        let inside = x > width / 4 && x < 3 * width / 4 && y > height / 4 && y < 3 * height / 4;
        if inside {
            [0, 0, 0, 255]
        } else {
            [255, 255, 255, 255]
        }
    })
}

fn message(body: Value) -> String {
    parse(&body, ModelFamily::Titan)
        .unwrap_err()
        .bedrock_message()
}

#[test]
fn bad_requests_get_bedrocks_messages() {
    let image = gray(64, 48);
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({ "taskType": "TEXT_IMAGE", "textToImageParams": { "text": "a".repeat(513) } }),
            "#/textToImageParams/text: expected maxLength: 512, actual: 513",
        ),
        (
            json!({ "taskType": "TEXT_IMAGE", "textToImageParams": { "text": "" } }),
            "#/textToImageParams/text: expected minLength: 1, actual: 0",
        ),
        (
            json!({ "taskType": "TEXT_IMAGE", "textToImageParams": { "text": 5 } }),
            "#/textToImageParams/text: expected type: String, found: Integer",
        ),
        (
            json!({ "taskType": "TEXT_IMAGE", "textToImageParams": { "text": "cat" },
                    "imageGenerationConfig": { "numberOfImages": 6 } }),
            "#/imageGenerationConfig/numberOfImages: 6 is not less or equal to 5",
        ),
        (
            json!({ "taskType": "TEXT_IMAGE", "textToImageParams": { "text": "cat" },
                    "imageGenerationConfig": { "numberOfImages": 0 } }),
            "#/imageGenerationConfig/numberOfImages: 0 is not greater or equal to 1",
        ),
        (
            json!({ "taskType": "TEXT_IMAGE", "textToImageParams": { "text": "cat" },
                    "imageGenerationConfig": { "cfgScale": 11.5 } }),
            "#/imageGenerationConfig/cfgScale: 11.5 is not less or equal to 10",
        ),
        (
            json!({ "taskType": "TEXT_IMAGE", "textToImageParams": { "text": "cat" },
                    "imageGenerationConfig": { "seed": "42" } }),
            "#/imageGenerationConfig/seed: expected type: Integer, found: String",
        ),
        (
            json!({ "taskType": "TEXT_IMAGE", "textToImageParams": { "text": "cat" },
                    "imageGenerationConfig": { "width": 1000, "height": 1000 } }),
            "#/imageGenerationConfig: 1000x1000 is not an allowed size; allowed: 1024x1024,",
        ),
        (
            json!({ "taskType": "TEXT_IMAGE", "textToImageParams": { "text": "cat" },
                    "imageGenerationConfig": { "quality": "ultra" } }),
            "#/imageGenerationConfig/quality: ultra is not a valid enum value",
        ),
        (
            json!({ "taskType": "TEXT_IMAGES", "textToImageParams": { "text": "cat" } }),
            "#/taskType: TEXT_IMAGES is not a valid enum value",
        ),
        (
            json!({ "textToImageParams": { "text": "cat" } }),
            "#: required key [taskType] not found",
        ),
        (
            json!({ "taskType": "TEXT_IMAGE" }),
            "#: required key [textToImageParams] not found",
        ),
        (
            json!({ "taskType": "TEXT_IMAGE", "textToImageParams": { "text": "cat", "style": "x" } }),
            "#/textToImageParams: extraneous key [style] is not permitted",
        ),
        (
            json!({ "taskType": "TEXT_IMAGE", "textToImageParams": { "text": "cat" }, "inPaintingParams": {} }),
            "#: extraneous key [inPaintingParams] is not permitted",
        ),
        (
            json!([1, 2]),
            "#: expected type: JSONObject, found: JSONArray",
        ),
        (
            json!({ "taskType": "INPAINTING", "inPaintingParams": { "image": image, "maskPrompt": "cat", "maskImage": mask(64, 48) } }),
            "#/inPaintingParams: only one of [maskImage, maskPrompt] may be given",
        ),
        (
            json!({ "taskType": "INPAINTING", "inPaintingParams": { "image": image } }),
            "#/inPaintingParams: required key [maskImage] or [maskPrompt] not found",
        ),
        (
            json!({ "taskType": "INPAINTING", "inPaintingParams": { "image": image, "maskImage": mask(32, 24) } }),
            "#/inPaintingParams/maskImage: expected the size of the input image, 64x48, actual: 32x24",
        ),
        (
            json!({ "taskType": "INPAINTING", "inPaintingParams": { "image": "not base64!!", "maskPrompt": "cat" } }),
            "#/inPaintingParams/image: the value is not valid base64",
        ),
        (
            json!({ "taskType": "INPAINTING", "inPaintingParams": { "image": STANDARD.encode(b"GIF89a....."), "maskPrompt": "cat" } }),
            "#/inPaintingParams/image: expected a base64-encoded PNG or JPEG image",
        ),
        (
            json!({ "taskType": "INPAINTING", "inPaintingParams": { "image": gray(1500, 10), "maskPrompt": "cat" } }),
            "#/inPaintingParams/image: expected an image of at most 1408 px on its long side, actual: 1500",
        ),
        (
            json!({ "taskType": "OUTPAINTING", "outPaintingParams": { "image": image, "maskPrompt": "cat" } }),
            "#/outPaintingParams: required key [text] not found",
        ),
        (
            json!({ "taskType": "OUTPAINTING", "outPaintingParams": { "image": image, "maskPrompt": "cat", "text": "sea", "outPaintingMode": "EXACT" } }),
            "#/outPaintingParams/outPaintingMode: EXACT is not a valid enum value",
        ),
        (
            json!({ "taskType": "IMAGE_VARIATION", "imageVariationParams": { "images": [] } }),
            "#/imageVariationParams/images: expected minimum item count: 1, found: 0",
        ),
        (
            json!({ "taskType": "IMAGE_VARIATION", "imageVariationParams": { "images": [image], "similarityStrength": 0.1 } }),
            "#/imageVariationParams/similarityStrength: 0.1 is not greater or equal to 0.2",
        ),
        (
            json!({ "taskType": "COLOR_GUIDED_GENERATION", "colorGuidedGenerationParams": { "text": "x", "colors": ["#12345"] } }),
            "#/colorGuidedGenerationParams/colors/0: string [#12345] does not match pattern ^#[0-9A-Fa-f]{6}$",
        ),
    ];
    for (body, expected) in cases {
        let got = message(body);
        let expected = format!("Malformed input request: {expected}");
        assert!(
            got.starts_with(&expected),
            "\n  got: {got}\n want: {expected}"
        );
        assert!(
            got.ends_with(", please reformat your input and try again."),
            "{got}"
        );
    }
}

#[test]
fn nova_allows_longer_prompts_and_free_sizes() {
    let body = json!({ "taskType": "TEXT_IMAGE", "textToImageParams": { "text": "a".repeat(1000) },
                       "imageGenerationConfig": { "width": 1280, "height": 720 } });
    let request = parse(&body, ModelFamily::Nova).unwrap();
    assert_eq!((request.config.width, request.config.height), (1280, 720));
    assert!(parse(&body, ModelFamily::Titan).is_err());
    let odd = json!({ "taskType": "TEXT_IMAGE", "textToImageParams": { "text": "a" },
                      "imageGenerationConfig": { "width": 1000, "height": 333 } });
    assert!(parse(&odd, ModelFamily::Nova).is_err());
}

#[test]
fn good_requests_parse_into_typed_tasks() {
    let body = json!({
        "taskType": "TEXT_IMAGE",
        "textToImageParams": { "text": "a lighthouse", "negativeText": "fog" },
        "imageGenerationConfig": { "numberOfImages": 3, "quality": "premium", "cfgScale": 7.5,
                                   "width": 1152, "height": 640, "seed": 7 }
    });
    let request = parse(&body, ModelFamily::Titan).unwrap();
    assert_eq!(
        request.task,
        Task::TextImage {
            text: "a lighthouse".into(),
            negative_text: Some("fog".into())
        }
    );
    assert_eq!(request.config.number_of_images, 3);
    assert_eq!((request.config.width, request.config.height), (1152, 640));
    assert_eq!((request.config.seed, request.config.seed_given), (7, true));
    assert_eq!(request.config.cfg_scale, 7.5);

    let defaults = parse(
        &json!({ "taskType": "TEXT_IMAGE", "textToImageParams": { "text": "x" } }),
        ModelFamily::Titan,
    )
    .unwrap();
    assert_eq!(
        (defaults.config.width, defaults.config.height),
        (1024, 1024)
    );
    assert_eq!(defaults.config.number_of_images, 1);
    assert!(!defaults.config.seed_given);

    let outpaint = json!({
        "taskType": "OUTPAINTING",
        "outPaintingParams": { "image": gray(64, 48), "maskImage": mask(64, 48), "text": "sea", "outPaintingMode": "PRECISE" },
        "imageGenerationConfig": { "width": 128, "height": 96 }
    });
    let request = parse(&outpaint, ModelFamily::Titan).unwrap();
    assert_eq!((request.config.width, request.config.height), (128, 96));
    // A side smaller than the image's is the image's: the canvas never shrinks it.
    let mut smaller = outpaint.clone();
    smaller["imageGenerationConfig"] = json!({ "width": 32, "height": 96 });
    let request = parse(&smaller, ModelFamily::Titan).unwrap();
    assert_eq!((request.config.width, request.config.height), (64, 96));
    let Task::Outpainting {
        mode,
        mask: Mask::Image { masked, .. },
        ..
    } = request.task
    else {
        panic!("outpainting with a mask image");
    };
    assert_eq!(mode, OutpaintMode::Precise);
    assert_eq!(
        masked.get_pixel(32, 24).0[0],
        255,
        "black in the mask is masked"
    );
    assert_eq!(masked.get_pixel(1, 1).0[0], 0);

    let inpaint = json!({ "taskType": "INPAINTING", "inPaintingParams": { "image": gray(64, 48), "maskPrompt": "the dog" },
                          "imageGenerationConfig": { "width": 1024, "height": 1024 } });
    let request = parse(&inpaint, ModelFamily::Titan).unwrap();
    assert_eq!(
        (request.config.width, request.config.height),
        (64, 48),
        "edits keep the image size"
    );
    assert!(request.task.task_type().is_edit());
}
