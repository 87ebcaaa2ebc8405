//! Schemas of the OpenAI-compatible routes' fields whose rules are written in
//! `routes::openai::wire` (`RawOptions::parse`): the document states exactly those.

use serde_json::{Value, json};
use utoipa::openapi::schema::{Object, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type};

use super::patterns::{any_case_choice, trimmed_count};

fn text(pattern: String) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .build()
}

/// The most images: OpenAI takes `n` up to 10, the Titan request it becomes up to 5.
const MAX_N: u32 = 5;

/// `n` of a form: 1 to 5 as text.
pub fn count_text_schema() -> Object {
    text(trimmed_count(1, MAX_N))
}

/// `n` of a JSON body: 1 to 5, a number or the same as text; or null.
pub fn count_schema() -> Schema {
    let number = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(MAX_N))
        .build();
    Schema::OneOf(
        OneOfBuilder::new()
            .item(number)
            .item(count_text_schema())
            .item(null())
            .build(),
    )
}

fn null() -> Object {
    ObjectBuilder::new().schema_type(Type::Null).build()
}

/// `auto` and the sizes both models take (whichever `model` picks the rules).
fn titan_sizes() -> impl Iterator<Item = String> {
    std::iter::once("auto".to_owned())
        .chain(super::bedrock_body::shared_sizes().map(|(w, h)| format!("{w}x{h}")))
}

/// `size` of a form: `auto`, or a size both Titan and Nova Canvas take.
pub fn size_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(titan_sizes()))
        .build()
}

/// `size` of a JSON body: as [`size_schema`], or null.
pub fn size_or_null_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(titan_sizes().map(Value::from).chain([Value::Null])))
        .build()
}

/// `size` where it is read but not used: `auto` or `WIDTHxHEIGHT`, each a `u32`.
pub fn any_size_schema() -> Object {
    let side = format!("\\+?{}", u32_digits());
    text(format!("^(?:auto|{side}x{side})$"))
}

/// The decimal digits `str::parse::<u32>` takes: leading zeros, at most 4294967295.
fn u32_digits() -> String {
    "0*(?:[0-9]{1,9}|[1-3][0-9]{9}|4[01][0-9]{8}|42[0-8][0-9]{7}|429[0-3][0-9]{6}\
     |4294[0-8][0-9]{5}|42949[0-5][0-9]{4}|429496[0-6][0-9]{3}|4294967[01][0-9]{2}\
     |42949672[0-8][0-9]|429496729[0-5])"
        .to_owned()
}

/// `response_format`: `url` or `b64_json`, exactly.
pub fn response_format_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["url", "b64_json"]))
        .build()
}

/// `response_format` of a JSON body: as [`response_format_schema`], or null.
pub fn response_format_or_null_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some([json!("url"), json!("b64_json"), Value::Null]))
        .build()
}

/// `output_format`: `png`, `jpeg` (or `jpg`) or `webp`, in any case.
pub fn output_format_schema() -> Object {
    text(any_case_choice(&["png", "jpeg", "jpg", "webp"]))
}

/// `output_format` of a JSON body: as [`output_format_schema`], or null.
pub fn output_format_or_null_schema() -> Schema {
    Schema::OneOf(
        OneOfBuilder::new()
            .item(output_format_schema())
            .item(null())
            .build(),
    )
}
