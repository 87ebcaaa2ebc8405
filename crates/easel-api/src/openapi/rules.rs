//! Rules of fields whose schemas utoipa's attributes cannot state (patterns built from
//! the parsers' constants, rules inside untagged enums), written into the document once
//! it is built. Each names the parser whose rule it states.

use serde_json::{Value, json};

use super::patterns::{folder, object_key};

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
