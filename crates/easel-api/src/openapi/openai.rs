//! Schemas of the OpenAI-compatible routes' fields whose rules are written in
//! `routes::openai::wire` (`RawOptions::parse`): the document states exactly those.

use easel_engines::request::TITAN_SIZES;
use utoipa::openapi::schema::{Object, ObjectBuilder, OneOfBuilder, Schema, Type};

use super::patterns::{any_case_choice, trimmed_count};

fn text(pattern: String) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .build()
}

/// `n` of a form: 1 to 10 as text.
pub fn count_text_schema() -> Object {
    text(trimmed_count(1, 10))
}

/// `n` of a JSON body: 1 to 10, a number or the same as text.
pub fn count_schema() -> Schema {
    let number = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(10))
        .build();
    Schema::OneOf(
        OneOfBuilder::new()
            .item(number)
            .item(count_text_schema())
            .build(),
    )
}

/// `size`: `auto`, or one of the default model's (Titan's) sizes.
pub fn size_schema() -> Object {
    let sizes = std::iter::once("auto".to_owned())
        .chain(TITAN_SIZES.iter().map(|(w, h)| format!("{w}x{h}")));
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(sizes))
        .build()
}

/// `response_format`: `url` or `b64_json`, exactly.
pub fn response_format_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["url", "b64_json"]))
        .build()
}

/// `output_format`: `png`, `jpeg` (or `jpg`) or `webp`, in any case.
pub fn output_format_schema() -> Object {
    text(any_case_choice(&["png", "jpeg", "jpg", "webp"]))
}
