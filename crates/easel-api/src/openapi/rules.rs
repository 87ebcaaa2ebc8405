//! Rules of fields whose schemas utoipa's attributes cannot state (patterns built from
//! the parsers' constants, rules inside untagged enums), written into the document once
//! it is built. Each names the parser whose rule it states.

use serde_json::{Value, json};

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
    // Multipart forms: other fields are text and ignored; names as the form reader takes.
    for form in ["EditForm", "VariationForm"] {
        schemas[form]["propertyNames"] = json!({ "pattern": FORM_FIELD_NAME });
        schemas[form]["additionalProperties"] = json!({ "type": "string" });
    }
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
