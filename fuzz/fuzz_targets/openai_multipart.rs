//! The multipart form of `POST /v1/images/edits` and `/v1/images/variations`, read and
//! parsed by the routes' own code (`easel_api::fuzzing::read_form`). Even first bytes:
//! the rest is a raw body (under one of a few content types); odd: the rest encodes
//! fields (see `easel_fuzz::multipart::fields`), and the form read back must hold them:
//! the first image, the last mask and prompt, the options as sent. Every refusal is a
//! 400 in OpenAI's error shape.
#![no_main]

use std::sync::LazyLock;

use bytes::Bytes;
use easel_api::fuzzing::{Form, Refusal, read_form};
use easel_core::Quality;
use easel_fuzz::multipart::{BOUNDARY, Field, content_type, encode, fields};
use libfuzzer_sys::fuzz_target;
use tokio::runtime::Runtime;

static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
});

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let content_types = [
            content_type(),
            format!("multipart/form-data; boundary=\"{BOUNDARY}\""),
            format!("Multipart/Form-Data;boundary={BOUNDARY};charset=utf-8"),
            "multipart/form-data".to_owned(),
            "application/x-www-form-urlencoded".to_owned(),
        ];
        let content_type = &content_types[usize::from(mode >> 1) % content_types.len()];
        let result = RUNTIME.block_on(read_form(content_type, Bytes::copy_from_slice(rest)));
        match result {
            Ok(form) => {
                if let Err(refusal) = &form.options {
                    check_refusal(refusal);
                }
            }
            Err(refusal) => check_refusal(&refusal),
        }
    } else {
        let fields = fields(rest);
        let Some(body) = encode(&fields) else {
            return;
        };
        if fields.is_empty() {
            // A body with no part at all: refusing it is as fine as reading nothing.
            if let Err(refusal) = RUNTIME.block_on(read_form(&content_type(), Bytes::from(body))) {
                check_refusal(&refusal);
            }
            return;
        }
        let result = RUNTIME.block_on(read_form(&content_type(), Bytes::from(body)));
        check_form(&fields, result);
    }
});

fn check_refusal(refusal: &Refusal) {
    assert_eq!(refusal.status, 400, "{refusal:?}");
    let error = &refusal.body["error"];
    assert_eq!(error["type"], "invalid_request_error", "{refusal:?}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{refusal:?}"
    );
}

/// The value of the last field named `name`.
fn last<'a>(fields: &'a [Field], name: &str) -> Option<&'a [u8]> {
    fields
        .iter()
        .rev()
        .find(|f| f.name == name)
        .map(|f| f.value.as_slice())
}

fn text(fields: &[Field], name: &str) -> Option<String> {
    last(fields, name).map(|v| String::from_utf8(v.to_vec()).expect("checked UTF-8"))
}

fn check_form(fields: &[Field], result: Result<Form, Refusal>) {
    let is_file = |f: &&Field| matches!(f.name, "image" | "image[]" | "mask");
    let not_text = fields
        .iter()
        .filter(|f| !is_file(f))
        .find(|f| std::str::from_utf8(&f.value).is_err());
    let form = match (not_text, result) {
        (Some(field), Err(refusal)) => {
            check_refusal(&refusal);
            assert_eq!(refusal.body["error"]["param"], field.name, "{refusal:?}");
            return;
        }
        (Some(field), Ok(_)) => panic!("'{}' is not text, yet the form was read", field.name),
        (None, Err(refusal)) => panic!("a well-formed form was refused: {refusal:?}"),
        (None, Ok(form)) => form,
    };
    let image = fields
        .iter()
        .find(|f| matches!(f.name, "image" | "image[]"));
    assert_eq!(form.image.as_deref(), image.map(|f| f.value.as_slice()));
    assert_eq!(form.mask.as_deref(), last(fields, "mask"));
    assert_eq!(form.prompt, text(fields, "prompt"));
    let options = match form.options {
        Ok(options) => options,
        Err(refusal) => {
            check_refusal(&refusal);
            return;
        }
    };
    let n = text(fields, "n").map_or(Some(1), |n| n.trim().parse::<u32>().ok());
    assert_eq!(Some(options.n), n);
    assert!((1..=10).contains(&options.n));
    let format = text(fields, "response_format");
    assert_eq!(options.b64, format.as_deref() == Some("b64_json"));
    assert_eq!(options.engine, text(fields, "engine"));
    let premium = matches!(text(fields, "quality").as_deref(), Some("hd" | "high"));
    assert_eq!(options.quality == Quality::Premium, premium);
    match (text(fields, "size"), options.size) {
        (None, None) => {}
        (Some(size), None) => assert_eq!(size, "auto"),
        (Some(size), Some((w, h))) => {
            let (a, b) = size.split_once('x').expect("a parsed size has an x");
            assert_eq!((a.parse(), b.parse()), (Ok(w), Ok(h)));
        }
        (None, Some(size)) => panic!("a size from nowhere: {size:?}"),
    }
    if let Some(model) = &options.model {
        assert_eq!(Some(model), text(fields, "model").as_ref());
    }
}
