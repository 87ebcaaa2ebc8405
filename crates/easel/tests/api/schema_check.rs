//! A small JSON Schema checker for the OpenAPI document's schemas: `$ref`, `type` (with
//! `null` and type lists), `properties`, `required`, `items`, `enum`, `allOf`, `oneOf`,
//! `anyOf`, `additionalProperties`, `minimum`/`maximum`. One rule is stricter than JSON
//! Schema on purpose: an object schema that lists `properties` is closed, so a field the
//! server sends but the document does not describe is an error — that is how the
//! document and the code are kept from drifting apart.

use std::collections::BTreeSet;

use serde_json::Value;

/// Checks `instance` against `schema`, resolving `$ref`s in `doc`; returns every
/// problem found, each with the JSON path of the offending value.
pub fn check(doc: &Value, schema: &Value, instance: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    Checker { doc }.value(schema, instance, "$", &mut errors);
    errors
}

/// Resolves a local `$ref` (`#/components/schemas/Job`).
pub fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

struct Checker<'a> {
    doc: &'a Value,
}

impl<'a> Checker<'a> {
    /// Follows `$ref`s to the schema itself.
    fn deref(&self, mut schema: &'a Value) -> &'a Value {
        for _ in 0..32 {
            match schema.get("$ref").and_then(Value::as_str) {
                Some(reference) => {
                    schema = resolve(self.doc, reference)
                        .unwrap_or_else(|| panic!("unresolved $ref {reference}"));
                }
                None => return schema,
            }
        }
        panic!("a $ref cycle");
    }

    fn value(&self, schema: &'a Value, instance: &Value, at: &str, errors: &mut Vec<String>) {
        let schema = self.deref(schema);
        if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
            for part in parts {
                self.value_open(part, instance, at, errors);
            }
        }
        for keyword in ["oneOf", "anyOf"] {
            if let Some(options) = schema.get(keyword).and_then(Value::as_array) {
                let matching = options
                    .iter()
                    .filter(|o| {
                        let mut found = Vec::new();
                        self.value(o, instance, at, &mut found);
                        found.is_empty()
                    })
                    .count();
                let fits = if keyword == "oneOf" {
                    matching == 1
                } else {
                    matching >= 1
                };
                if !fits {
                    errors.push(format!(
                        "{at}: {matching} of the {keyword} options match {instance}"
                    ));
                }
            }
        }
        self.single(schema, instance, at, errors, true);
        if schema.get("allOf").is_some() {
            self.closed_all_of(schema, instance, at, errors);
        }
    }

    /// Checks one part of an `allOf` without closing it (the other parts add fields).
    fn value_open(&self, schema: &'a Value, instance: &Value, at: &str, errors: &mut Vec<String>) {
        let schema = self.deref(schema);
        if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
            for part in parts {
                self.value_open(part, instance, at, errors);
            }
        }
        self.single(schema, instance, at, errors, false);
    }

    /// The fields every part of an `allOf` names, together, close the object.
    fn closed_all_of(
        &self,
        schema: &'a Value,
        instance: &Value,
        at: &str,
        errors: &mut Vec<String>,
    ) {
        let Some(object) = instance.as_object() else {
            return;
        };
        let mut known = BTreeSet::new();
        self.known_properties(schema, &mut known);
        for key in object.keys() {
            if !known.contains(key.as_str()) {
                errors.push(format!("{at}: `{key}` is not in the document"));
            }
        }
    }

    fn known_properties(&self, schema: &'a Value, known: &mut BTreeSet<&'a str>) {
        let schema = self.deref(schema);
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            known.extend(properties.keys().map(String::as_str));
        }
        for part in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.known_properties(part, known);
        }
    }

    fn single(
        &self,
        schema: &'a Value,
        instance: &Value,
        at: &str,
        errors: &mut Vec<String>,
        closed: bool,
    ) {
        if let Some(types) = schema.get("type") {
            let allowed: Vec<&str> = match types {
                Value::String(t) => vec![t.as_str()],
                Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if !allowed.iter().any(|t| is_type(instance, t)) {
                errors.push(format!("{at}: {instance} is not {allowed:?}"));
                return;
            }
        }
        if let Some(choices) = schema.get("enum").and_then(Value::as_array)
            && !choices.contains(instance)
        {
            errors.push(format!("{at}: {instance} is not one of {choices:?}"));
        }
        if let Some(number) = instance.as_f64() {
            if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
                && number < min
            {
                errors.push(format!("{at}: {number} < minimum {min}"));
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
                && number > max
            {
                errors.push(format!("{at}: {number} > maximum {max}"));
            }
        }
        if let Some(items) = instance.as_array()
            && let Some(item_schema) = schema.get("items")
        {
            for (i, item) in items.iter().enumerate() {
                self.value(item_schema, item, &format!("{at}[{i}]"), errors);
            }
        }
        if let Some(object) = instance.as_object() {
            self.object(schema, object, at, errors, closed);
        }
    }

    fn object(
        &self,
        schema: &'a Value,
        object: &serde_json::Map<String, Value>,
        at: &str,
        errors: &mut Vec<String>,
        closed: bool,
    ) {
        let properties = schema.get("properties").and_then(Value::as_object);
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = name.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                errors.push(format!("{at}: required `{name}` is missing"));
            }
        }
        let additional = schema.get("additionalProperties");
        for (key, value) in object {
            let path = format!("{at}.{key}");
            match properties.and_then(|p| p.get(key)) {
                Some(property) => self.value(property, value, &path, errors),
                None => match additional {
                    Some(Value::Bool(false)) => {
                        errors.push(format!("{at}: `{key}` is not allowed"))
                    }
                    Some(Value::Bool(true)) => {}
                    Some(extra) => self.value(extra, value, &path, errors),
                    // Stricter than JSON Schema: a described object is closed.
                    None if closed && properties.is_some() && schema.get("allOf").is_none() => {
                        errors.push(format!("{at}: `{key}` is not in the document"))
                    }
                    None => {}
                },
            }
        }
    }
}

fn is_type(instance: &Value, name: &str) -> bool {
    match name {
        "null" => instance.is_null(),
        "boolean" => instance.is_boolean(),
        "string" => instance.is_string(),
        "array" => instance.is_array(),
        "object" => instance.is_object(),
        "integer" => instance.is_i64() || instance.is_u64(),
        "number" => instance.is_number(),
        _ => false,
    }
}

#[test]
fn the_checker_finds_what_it_should() {
    let doc = serde_json::json!({ "components": { "schemas": {
        "Thing": { "type": "object", "required": ["id"], "properties": {
            "id": { "type": "string" },
            "size": { "type": ["integer", "null"], "minimum": 0 },
            "kind": { "type": "string", "enum": ["a", "b"] },
        } },
    } } });
    let thing = serde_json::json!({ "$ref": "#/components/schemas/Thing" });
    let ok = serde_json::json!({ "id": "x", "size": null, "kind": "a" });
    assert!(check(&doc, &thing, &ok).is_empty());
    let bad = serde_json::json!({ "size": -1, "kind": "c", "extra": true });
    let errors = check(&doc, &thing, &bad);
    assert_eq!(errors.len(), 4, "{errors:?}");
}
