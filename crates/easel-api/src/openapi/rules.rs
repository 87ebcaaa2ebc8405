//! Rules of fields whose schemas utoipa's attributes cannot state (patterns built from
//! the parsers' constants, rules inside untagged enums), written into the document once
//! it is built. Each names the parser whose rule it states.

use serde_json::{Value, json};

use easel_engines::request::ModelFamily;

use super::bedrock_body::TASKS;
use super::patterns::{FORM_FIELD_NAME, folder, object_key};

/// The most characters of `s3://uploads/` and `s3://outputs/`.
const S3_PREFIX_CHARS: u64 = 13;

/// A source as text: `s3://<bucket>/<key>` or a bare key (`parse_source`).
fn source_text() -> Value {
    let key = object_key();
    let max = easel_core::MAX_KEY_BYTES as u64;
    json!({
        "oneOf": [
            { "type": "string", "pattern": format!("^s3://(?:uploads|outputs)/{key}$"),
              "maxLength": max + S3_PREFIX_CHARS },
            { "type": "string", "pattern": format!("^{key}$"), "maxLength": max },
        ],
        "description": "`s3://<bucket>/<key>` or a key (in `uploads`)."
    })
}

/// Writes the rules into `doc`.
pub fn apply(doc: &mut Value) {
    let schemas = &mut doc["components"]["schemas"];
    let key = json!({
        "type": "string",
        "pattern": format!("^{}$", object_key()),
        "maxLength": easel_core::MAX_KEY_BYTES,
        "description": "The key."
    });
    if let Some(variants) = schemas["SourceInput"]["oneOf"].as_array_mut() {
        for variant in variants {
            if variant["type"] == "object" {
                variant["properties"]["key"] = key.clone();
                variant["properties"]["bucket"]["enum"] = json!(["uploads", "outputs", null]);
            } else {
                *variant = source_text();
            }
        }
    }
    let image_urls = &mut schemas["ProcessRequest"]["properties"]["imageUrls"];
    image_urls["items"] = source_text();
    image_urls["minItems"] = json!(1);
    schemas["PresignRequest"]["properties"]["folder"]["pattern"] = json!(folder());
    // Exactly one of the masks (`easel_engines::request`'s `mask`; null is absent).
    let given =
        |key: &str| json!({ "required": [key], "properties": { key: { "type": "string" } } });
    for params in ["InPaintingParams", "OutPaintingParams"] {
        schemas[params]["oneOf"] = json!([given("maskImage"), given("maskPrompt")]);
    }
    model_rules(&mut schemas["GenerationsRequest"]);
    // Bedrock's enumerations (`easel_engines::request`'s `one_of`; null is absent).
    schemas["OutPaintingParams"]["properties"]["outPaintingMode"] =
        json!({ "enum": ["DEFAULT", "PRECISE", null], "default": "DEFAULT" });
    schemas["ImageGenerationConfig"]["properties"]["quality"] =
        json!({ "enum": ["standard", "premium", null], "default": "standard" });
    // Multipart forms: other fields are text and ignored; names as the form reader takes.
    for form in ["EditForm", "VariationForm"] {
        schemas[form]["propertyNames"] = json!({ "pattern": FORM_FIELD_NAME });
        schemas[form]["additionalProperties"] = json!({ "type": "string" });
    }
    invoke_per_model(doc);
}

/// The Bedrock route as one path per model (`/model/{model_id}/invoke` is served): the
/// model in the path decides the body's limits (texts of 512 characters and seeds up to
/// 2147483646 for Titan, 1024 and 858993459 for Nova Canvas), which a schema can only
/// state per path.
fn invoke_per_model(doc: &mut Value) {
    let Some(item) = doc["paths"]
        .as_object_mut()
        .and_then(|paths| paths.remove(INVOKE_PATH))
    else {
        return;
    };
    let schemas = &mut doc["components"]["schemas"];
    schemas["InvokeModelBodyNova"] = nova_body(&schemas["InvokeModelBody"]);
    for (model, family, name, body) in [
        (
            easel_engines::TITAN_IMAGE_V2,
            ModelFamily::Titan,
            "titan",
            "InvokeModelBody",
        ),
        (
            easel_engines::NOVA_CANVAS,
            ModelFamily::Nova,
            "nova",
            "InvokeModelBodyNova",
        ),
    ] {
        let mut item = item.clone();
        let operation = &mut item["post"];
        if let Some(parameters) = operation["parameters"].as_array_mut() {
            parameters.retain(|p| p["name"] != "model_id");
        }
        let id = operation["operationId"].as_str().unwrap_or("invoke_model");
        operation["operationId"] = json!(format!("{id}_{name}"));
        operation["requestBody"]["content"]["application/json"]["schema"] = json!({
            "allOf": [{ "$ref": format!("#/components/schemas/{body}") }, family_limits(family)]
        });
        doc["paths"][format!("/model/{model}/invoke")] = item;
    }
}

/// The InvokeModel body on Nova Canvas's path: besides the sizes both models take, one
/// side alone (the other is 1024) may be any of Nova's sides, 320 to 4096 in steps of 16.
/// Nova's other sizes (each side so, at most 4,194,304 pixels, 4:1 at most) are too many
/// for a schema that generators can use (they take a few dozen alternatives), so the
/// schema lists the shared ones and its description says the rest.
fn nova_body(titan: &Value) -> Value {
    let mut body = titan.clone();
    let side = json!({ "type": "integer", "minimum": 320, "maximum": 4096, "multipleOf": 16 });
    let lone = |given: &str, other: &str| {
        json!({ "required": [given],
            "properties": { given: side.clone(), other: { "type": "null" } } })
    };
    for variant in body["oneOf"].as_array_mut().into_iter().flatten() {
        let Some(config) = variant.pointer_mut("/properties/imageGenerationConfig/oneOf/0") else {
            continue;
        };
        let Some(sizes) = config
            .pointer_mut("/allOf/1/anyOf")
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        sizes.push(lone("width", "height"));
        sizes.push(lone("height", "width"));
        config["description"] = json!(
            "Nova Canvas takes sides of 320 to 4096 in steps of 16, at most 4,194,304 pixels and 4:1 at most: one side alone (the other is 1024) may be any such side; of the pairs, this schema lists the sizes Titan takes too."
        );
    }
    body
}

/// The path the Bedrock route is served at.
pub const INVOKE_PATH: &str = "/model/{model_id}/invoke";

/// The texts and seeds `family` takes, for every task's parameters.
pub fn family_limits(family: ModelFamily) -> Value {
    let texts = json!({ "properties": {
        "text": { "maxLength": family.max_text() },
        "negativeText": { "maxLength": family.max_text() },
        "maskPrompt": { "maxLength": family.max_text() },
    } });
    let mut properties = serde_json::Map::new();
    for (_, key, _) in TASKS {
        properties.insert(key.to_owned(), texts.clone());
    }
    properties.insert(
        "imageGenerationConfig".to_owned(),
        json!({ "properties": { "seed": { "maximum": family.max_seed() } } }),
    );
    json!({ "properties": properties })
}

/// `POST /v1/images/generations`: `model` picks the request rules (Nova Canvas: texts up
/// to 1024 characters, seeds up to 858993459; otherwise Titan's 512 and 2147483646).
fn model_rules(request: &mut Value) {
    let Some(properties) = request.get_mut("properties") else {
        return;
    };
    properties["prompt"]["maxLength"] = json!(1024);
    properties["negative_prompt"]["maxLength"] = json!(1024);
    let nova = easel_engines::NOVA_CANVAS;
    request["if"] = json!({ "required": ["model"], "properties": { "model": { "const": nova } } });
    request["then"] = json!({ "properties": { "seed": { "maximum": 858_993_459 } } });
    request["else"] = json!({ "properties": {
        "prompt": { "maxLength": 512 }, "negative_prompt": { "maxLength": 512 } } });
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::apply;

    #[test]
    fn rules_reach_their_schemas() {
        let mut doc = json!({ "components": { "schemas": {
            "SourceInput": { "oneOf": [{ "type": "object", "properties": {} }, { "type": "string" }] },
            "ProcessRequest": { "properties": { "imageUrls": {} } },
            "PresignRequest": { "properties": { "folder": {} } },
        } } });
        apply(&mut doc);
        let schemas = &doc["components"]["schemas"];
        assert!(schemas["SourceInput"]["oneOf"][1]["oneOf"].is_array());
        assert_eq!(
            schemas["ProcessRequest"]["properties"]["imageUrls"]["minItems"],
            1
        );
    }
}
