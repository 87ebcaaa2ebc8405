//! Writes the seed corpus under `fuzz/corpus/<target>/` from the fixtures: tiny images,
//! valid generation bodies, URLs and tokens from the real presigner and issuer, and
//! multipart forms. Run `cargo run --manifest-path fuzz/Cargo.toml --example seeds` after
//! changing a fixture (tokens carry fresh `jti`s, so they change on every run). Each
//! seed is checked to be accepted by the code under test, so the targets' checks of what
//! is accepted start from inputs that reach them.

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use easel_api::fuzzing::read_form;
use easel_engines::request::{ModelFamily, parse};
use easel_fuzz::multipart::{Field, content_type, to_bytes};
use easel_fuzz::{jwt, presign};
use easel_image::{Format, OutputOptions, encode_rgba};
use easel_services::identity::TokenUse;
use image::{Rgba, RgbaImage};
use serde_json::{Value, json};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    images(&root.join("decode_pipeline"));
    generation(&root.join("generation_request"));
    presigned(&root.join("presigned_query"));
    tokens(&root.join("jwt"));
    forms(&root.join("openai_multipart"));
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::create_dir_all(dir).expect("a corpus directory");
    let path: PathBuf = dir.join(name);
    fs::write(&path, bytes).expect("a seed");
}

/// A small picture with a transparent corner (so edits have something to change).
fn picture(width: u32, height: u32) -> RgbaImage {
    RgbaImage::from_fn(width, height, |x, y| {
        let alpha = if x < width / 4 && y < height / 4 {
            0
        } else {
            255
        };
        Rgba([
            (x * 255 / width) as u8,
            (y * 255 / height) as u8,
            128,
            alpha,
        ])
    })
}

fn encoded(image: &RgbaImage, format: Format) -> Vec<u8> {
    encode_rgba(image, format, &OutputOptions::default()).expect("encodes")
}

fn images(dir: &Path) {
    let image = picture(12, 8);
    for (pick, format, name) in [
        (0u8, Format::Png, "png"),
        (1, Format::Jpeg, "jpeg"),
        (2, Format::Webp, "webp"),
        (4, Format::Gif, "gif"),
    ] {
        let mut seed = vec![pick];
        seed.extend(encoded(&image, format));
        write(dir, name, &seed);
    }
}

fn generation(dir: &Path) {
    let png = STANDARD.encode(encoded(&picture(64, 48), Format::Png));
    let jpeg = STANDARD.encode(encoded(&picture(64, 48), Format::Jpeg));
    let mask = STANDARD.encode(encoded(&mask(64, 48), Format::Png));
    let bodies: [(&str, Value); 7] = [
        (
            "text-image",
            json!({"taskType": "TEXT_IMAGE",
            "textToImageParams": {"text": "a lighthouse at dusk", "negativeText": "fog"},
            "imageGenerationConfig": {"width": 512, "height": 512, "seed": 42,
                "cfgScale": 7.5, "numberOfImages": 2, "quality": "premium"}}),
        ),
        (
            "inpainting",
            json!({"taskType": "INPAINTING",
            "inPaintingParams": {"image": png, "maskImage": mask, "text": "a cat"}}),
        ),
        (
            "inpainting-prompt",
            json!({"taskType": "INPAINTING",
            "inPaintingParams": {"image": jpeg, "maskPrompt": "the sky", "returnMask": true}}),
        ),
        (
            "outpainting",
            json!({"taskType": "OUTPAINTING",
            "outPaintingParams": {"image": png, "maskImage": mask, "text": "a beach",
                "outPaintingMode": "PRECISE"},
            "imageGenerationConfig": {"width": 96, "height": 64, "seed": 3}}),
        ),
        (
            "variation",
            json!({"taskType": "IMAGE_VARIATION",
            "imageVariationParams": {"images": [png], "similarityStrength": 0.7, "text": "v"},
            "imageGenerationConfig": {"width": 512, "height": 512}}),
        ),
        (
            "background-removal",
            json!({"taskType": "BACKGROUND_REMOVAL",
            "backgroundRemovalParams": {"image": png}}),
        ),
        (
            "color-guided",
            json!({"taskType": "COLOR_GUIDED_GENERATION",
            "colorGuidedGenerationParams": {"text": "a kite", "colors": ["#ff9800", "#00AA11"]},
            "imageGenerationConfig": {"width": 768, "height": 768}}),
        ),
    ];
    for (i, (name, body)) in bodies.iter().enumerate() {
        // Even first bytes: Titan's rules; odd: Nova's (both accept these bodies).
        let family = [ModelFamily::Titan, ModelFamily::Nova][i % 2];
        if let Err(violation) = parse(body, family) {
            panic!("the {name} seed is refused: {violation}");
        }
        let mut seed = vec![b'0' + (i % 2) as u8];
        seed.extend(serde_json::to_vec(body).expect("JSON"));
        write(dir, &format!("{name}.json"), &seed);
    }
}

/// A Titan mask (black = change) over the picture's transparent corner.
fn mask(width: u32, height: u32) -> RgbaImage {
    RgbaImage::from_fn(width, height, |x, y| {
        let v = if x < width / 4 && y < height / 4 {
            0
        } else {
            255
        };
        Rgba([v, v, v, 255])
    })
}

fn presigned(dir: &Path) {
    for (i, (request, presigner)) in presign::signed().iter().enumerate() {
        let method = request.method.as_str();
        write(
            dir,
            &format!("url-{i}"),
            presign::input(request, presigner, method).as_bytes(),
        );
    }
    let (get, presigner) = &presign::signed()[0];
    write(
        dir,
        "head",
        presign::input(get, presigner, "HEAD").as_bytes(),
    );
    write(
        dir,
        "wrong-method",
        presign::input(get, presigner, "PUT").as_bytes(),
    );
}

fn tokens(dir: &Path) {
    let runtime = runtime();
    for user in jwt::users() {
        let issued = jwt::issue(&user);
        for (token, use_) in [
            (&issued.access_token, TokenUse::Access),
            (&issued.id_token, TokenUse::Id),
        ] {
            let verified = runtime.block_on(jwt::tokens().verify(token, use_));
            assert!(verified.is_ok(), "{verified:?}");
        }
        write(
            dir,
            &format!("access-{}", user.username),
            issued.access_token.as_bytes(),
        );
        write(
            dir,
            &format!("id-{}", user.username),
            issued.id_token.as_bytes(),
        );
    }
}

fn forms(dir: &Path) {
    let png = encoded(&picture(8, 8), Format::Png);
    let field = |name: &'static str, file: bool, value: &[u8]| Field {
        name,
        file,
        value: value.to_vec(),
    };
    let edit = [
        field("image", true, &png),
        field("mask", true, &png),
        field("prompt", false, b"a red hat"),
        field("n", false, b"2"),
        field("size", false, b"1024x1024"),
        field("response_format", false, b"b64_json"),
        field("model", false, b"amazon.titan-image-generator-v2:0"),
        field("quality", false, b"hd"),
        field("output_format", false, b"webp"),
    ];
    let variation = [
        field("image[]", true, &png),
        field("image[]", true, b"second"),
        field("engine", false, b"classic"),
        field("size", false, b"auto"),
        field("user", false, b"someone"),
    ];
    for (name, fields) in [("edit", &edit[..]), ("variation", &variation[..])] {
        // Odd first bytes: the rest encodes fields.
        let mut seed = vec![1u8];
        seed.extend(to_bytes(fields));
        write(dir, &format!("fields-{name}"), &seed);
        // Even: the raw body, as a client sends it.
        let body = easel_fuzz::multipart::encode(fields).expect("encodable");
        let form = runtime().block_on(read_form(&content_type(), Bytes::from(body.clone())));
        let options = form.map(|f| f.options.map(|_| ()));
        assert!(
            matches!(options, Ok(Ok(()))),
            "the {name} form is refused: {options:?}"
        );
        let mut raw = vec![0u8];
        raw.extend(body);
        write(dir, &format!("raw-{name}"), &raw);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
}
