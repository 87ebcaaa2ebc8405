//! The schema of an inline pipeline (`easel_image::Pipeline` in its JSON form) with the
//! rules `Pipeline::validate` and the job submitter apply: each operation's parameters
//! and ranges, the output options that go together, and — only where object detection
//! can run (its default model installed when the server started) — `detect`,
//! `annotate` and what uses their objects. Built for one deployment's limits, so what it
//! calls valid is what that server accepts. (With detection, class names and other
//! models' names are the models' own: the document cannot list them, and a name the
//! model lacks is a 400, a model not installed a 503.)

use easel_services::jobs::PipelineRules;
use serde_json::{Map, Value, json};

/// `#rgb` or `#rrggbb` (`easel_image::Color::parse`).
const COLOR: &str = "^#(?:[0-9A-Fa-f]{3}){1,2}$";

/// One line with something besides white space (`validate::check_text`): no control
/// characters, and one character that is neither a control nor Unicode white space.
const WATERMARK_TEXT: &str = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\x00-\\x1f\\x7f-\\x9f]*$";

/// The document's string format of a base64-encoded PNG file.
pub const BASE64_PNG: &str = "base64-png";

/// Compass points and `center`: where a watermark may be anchored.
const PLACES: [&str; 9] = [
    "center",
    "north",
    "northeast",
    "east",
    "southeast",
    "south",
    "southwest",
    "west",
    "northwest",
];

/// The pipeline schema under `rules`.
pub fn schema(rules: &PipelineRules) -> Value {
    let mut ops: Vec<Value> = vec![
        resize(rules),
        crop(rules),
        op(
            "rotate",
            json!({ "degrees": { "enum": [90, 180, 270] } }),
            &["degrees"],
        ),
        op("flip", json!({}), &[]),
        op("flop", json!({}), &[]),
        blur(rules),
        op(
            "sharpen",
            json!({ "sigma": open_range(10.0), "amount": open_range(10.0) }),
            &[],
        ),
        watermark_text(),
        watermark_image(),
        detect(rules),
    ];
    if rules.detection {
        ops.push(op(
            "annotate",
            json!({
                "color": { "type": ["string", "null"], "pattern": COLOR },
                "thickness": open_range(0.05),
                "labels": { "type": "boolean" },
            }),
            &[],
        ));
    }
    let mut pipeline = json!({
        "type": "object",
        "description": "Operations in order, then the output options (see the README of easel-image).",
        "properties": {
            "ops": { "type": "array", "items": { "oneOf": ops } },
            "output": output(),
            "auto_orient": { "type": "boolean" },
        },
        "additionalProperties": false,
    });
    if rules.detection {
        pipeline["allOf"] = objects_rules();
    }
    pipeline
}

/// An operation: `{"op": name, ...properties}`, nothing else; `required` besides `op`.
fn op(name: &str, properties: Value, required: &[&str]) -> Value {
    let mut properties = properties;
    properties["op"] = json!({ "const": name });
    let mut all = vec!["op"];
    all.extend_from_slice(required);
    json!({
        "type": "object",
        "title": name,
        "properties": properties,
        "required": all,
        "additionalProperties": false,
    })
}

/// A number in `(0, max]` (`validate::check_range`, lower bound open).
fn open_range(max: f64) -> Value {
    json!({ "type": "number", "exclusiveMinimum": 0, "maximum": max })
}

/// A number in `[0, max]`.
fn closed_range(max: f64) -> Value {
    json!({ "type": "number", "minimum": 0, "maximum": max })
}

/// A side of 1 to `max` pixels, or null (absent) where `nullable`.
fn side(max: u32, nullable: bool) -> Value {
    let kind = if nullable {
        json!(["integer", "null"])
    } else {
        json!("integer")
    };
    json!({ "type": kind, "minimum": 1, "maximum": max })
}

/// The gravities of crops and resizes: `objects` only where detection can run.
fn crop_gravity(rules: &PipelineRules) -> Value {
    let mut names: Vec<&str> = PLACES.to_vec();
    names.push("smart");
    if rules.detection {
        names.push("objects");
    }
    json!({ "enum": names })
}

/// Present and not null.
pub fn given(field: &str) -> Value {
    json!({ "required": [field], "not": { "properties": { field: { "type": "null" } } } })
}

fn resize(rules: &PipelineRules) -> Value {
    let mut resize = op(
        "resize",
        json!({
            "width": side(rules.max_width, true),
            "height": side(rules.max_height, true),
            "mode": { "enum": ["fit", "fill", "exact"] },
            "gravity": crop_gravity(rules),
            "enlarge": { "type": "boolean" },
            "filter": { "enum": ["nearest", "bilinear", "catmull_rom", "mitchell", "lanczos3"] },
        }),
        &[],
    );
    // Width, height or both; `fill` and `exact` need both.
    resize["anyOf"] = json!([given("width"), given("height")]);
    resize["if"] = json!({ "required": ["mode"],
        "properties": { "mode": { "enum": ["fill", "exact"] } } });
    resize["then"] = json!({ "allOf": [given("width"), given("height")] });
    resize
}

fn crop(rules: &PipelineRules) -> Value {
    let offset = json!({ "type": ["integer", "null"], "minimum": 0, "maximum": u32::MAX });
    let mut crop = op(
        "crop",
        json!({
            "width": side(rules.max_width, false),
            "height": side(rules.max_height, false),
            "x": offset,
            "y": offset,
            "gravity": crop_gravity(rules),
        }),
        &["width", "height"],
    );
    // Both of `x` and `y`, or neither.
    crop["oneOf"] = json!([
        { "allOf": [given("x"), given("y")] },
        { "not": { "anyOf": [given("x"), given("y")] } },
    ]);
    crop
}

fn blur(rules: &PipelineRules) -> Value {
    let classes = if rules.detection {
        json!({ "type": ["array", "null"], "items": { "type": "string" },
            "description": "Blur only the detected objects of these classes (the detection model's names; `[]`: every object); needs a `detect` operation." })
    } else {
        json!({ "type": "null", "description": "Needs object detection; it cannot run here." })
    };
    op(
        "blur",
        json!({ "sigma": open_range(100.0), "classes": classes }),
        &["sigma"],
    )
}

/// The placement fields both watermarks share.
fn placement(properties: &mut Map<String, Value>) {
    properties.insert("opacity".into(), closed_range(1.0));
    properties.insert("gravity".into(), json!({ "enum": PLACES }));
    properties.insert("margin".into(), closed_range(0.5));
    properties.insert("tile".into(), json!({ "type": "boolean" }));
}

fn watermark_text() -> Value {
    let mut properties = Map::new();
    properties.insert(
        "text".into(),
        json!({ "type": "string", "minLength": 1, "maxLength": 256, "pattern": WATERMARK_TEXT }),
    );
    properties.insert("size".into(), open_range(1.0));
    properties.insert(
        "color".into(),
        json!({ "type": "string", "pattern": COLOR }),
    );
    placement(&mut properties);
    op("watermark_text", Value::Object(properties), &["text"])
}

fn watermark_image() -> Value {
    let mut properties = Map::new();
    properties.insert(
        "png".into(),
        json!({ "type": "string", "format": BASE64_PNG,
            "description": "A PNG file (at most 4096 pixels a side, and no larger than the largest output), base64-encoded." }),
    );
    properties.insert("scale".into(), open_range(1.0));
    placement(&mut properties);
    op("watermark_image", Value::Object(properties), &["png"])
}

/// `detect`: where detection can run, any of its settings; elsewhere only as
/// `ifAvailable: true` (then it is left out and the rest runs).
fn detect(rules: &PipelineRules) -> Value {
    let if_available = if rules.detection {
        json!({ "type": "boolean" })
    } else {
        json!({ "const": true, "description": "Object detection cannot run here (not set up, or its model not installed), so a `detect` must be `ifAvailable` (and is then left out)." })
    };
    let names =
        json!({ "type": ["array", "null"], "items": { "type": "string" }, "maxItems": 1000 });
    let mut detect = op(
        "detect",
        json!({
            "model": { "type": ["string", "null"], "minLength": 1, "maxLength": 128 },
            "classes": names,
            "minConfidence": { "type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 1 },
            "maxDetections": { "type": ["integer", "null"], "minimum": 1, "maximum": 1000 },
            "weights": { "type": ["object", "null"],
                "additionalProperties": { "type": "number", "minimum": 0, "maximum": 1000 } },
            "ifAvailable": if_available,
        }),
        &[],
    );
    if !rules.detection {
        detect["required"] = json!(["op", "ifAvailable"]);
    }
    detect
}

/// With detection: one `detect` at most, and operations that use its objects need one
/// that is not `ifAvailable` (`validate::check_objects`).
fn objects_rules() -> Value {
    let is_detect = json!({ "properties": { "op": { "const": "detect" } }, "required": ["op"] });
    let uses_objects = json!({ "anyOf": [
        { "properties": { "op": { "const": "annotate" } }, "required": ["op"] },
        { "properties": { "op": { "const": "blur" }, "classes": { "type": "array" } },
          "required": ["op", "classes"] },
        { "properties": { "op": { "enum": ["resize", "crop"] }, "gravity": { "const": "objects" } },
          "required": ["op", "gravity"] },
    ] });
    let firm_detect = json!({ "allOf": [is_detect,
        { "not": { "properties": { "ifAvailable": { "const": true } }, "required": ["ifAvailable"] } }] });
    json!([
        { "properties": { "ops": { "maxContains": 1, "minContains": 0, "contains": is_detect } } },
        {
            "if": { "properties": { "ops": { "contains": uses_objects } }, "required": ["ops"] },
            "then": { "properties": { "ops": { "contains": firm_detect } } },
        },
    ])
}

/// The output options and the ones that go together (`validate::check_output`).
fn output() -> Value {
    let level = |max: u32| json!({ "type": ["integer", "null"], "minimum": 0, "maximum": max });
    let format_is = |formats: Value| json!({ "properties": { "format": { "enum": formats } } });
    let set = |field: &str, value: Value| json!({ "properties": { field: { "const": value } }, "required": [field] });
    json!({
        "type": "object",
        "properties": {
            "format": { "enum": ["jpeg", "png", "webp", "gif", "avif", null],
                "description": "Absent: the input's (GIF becomes PNG, HEIC/HEIF becomes JPEG)." },
            "quality": { "type": ["integer", "null"], "minimum": 1, "maximum": 100 },
            "progressive": { "type": "boolean" },
            "lossless": { "type": "boolean" },
            "compression": level(9),
            "speed": level(9),
            "keep_copyright": { "type": "boolean" },
            "background": { "type": ["string", "null"], "pattern": COLOR },
        },
        "additionalProperties": false,
        "allOf": [
            { "if": set("progressive", json!(true)), "then": format_is(json!(["jpeg", null])) },
            { "if": set("lossless", json!(true)), "then": { "required": ["format"], "properties": { "format": { "const": "webp" } } } },
            { "if": { "required": ["compression"], "properties": { "compression": { "type": "integer" } } },
              "then": format_is(json!(["png", null])) },
            { "if": { "required": ["speed"], "properties": { "speed": { "type": "integer" } } },
              "then": { "required": ["format"], "properties": { "format": { "const": "avif" } } } },
        ],
    })
}
