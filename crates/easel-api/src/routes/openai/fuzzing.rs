//! The multipart reader of `/v1/images/edits` and `/v1/images/variations` and the option
//! parser behind them, callable without a server or a state: the entry point of the
//! `openai_multipart` fuzz target (`fuzz/`). It runs exactly the code the routes run,
//! from axum's `Multipart` extractor to the options' `parse`;
//! only the caller and the body limit (the router's layers) are left out.

use axum::body::{Body, Bytes};
use axum::extract::multipart::Multipart;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde_json::Value;

use super::wire::{ImageForm, OpenAiError};

pub use super::wire::ImageOptions;

/// What a route read from a form.
pub struct Form {
    /// The image (`image`, or the first `image[]`).
    pub image: Option<Bytes>,
    /// The mask (the last `mask`).
    pub mask: Option<Bytes>,
    /// `prompt` (the last one).
    pub prompt: Option<String>,
    /// The shared options, parsed, or why they were refused.
    pub options: Result<ImageOptions, Refusal>,
}

/// A refusal as the client sees it: the status and the JSON body in OpenAI's shape.
#[derive(Debug)]
pub struct Refusal {
    /// The HTTP status.
    pub status: u16,
    /// The body (`{"error": {"message", "type", "param", "code"}}`).
    pub body: Value,
}

/// Reads a multipart `body` sent with `content_type` the way the routes do, then parses
/// its options. `content_type` must be a valid header value (HTTP would refuse others).
pub async fn read_form(content_type: &str, body: Bytes) -> Result<Form, Refusal> {
    let request = Request::builder()
        .header(CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .map_err(|e| OpenAiError::invalid(None, e.to_string()));
    let form = match request {
        Ok(request) => match Multipart::from_request(request, &()).await {
            Ok(multipart) => ImageForm::read(multipart).await,
            Err(e) => Err(OpenAiError::invalid(
                None,
                format!("the body must be multipart/form-data: {e}"),
            )),
        },
        Err(e) => Err(e),
    };
    let form = match form {
        Ok(form) => form,
        Err(e) => return Err(refusal(e).await),
    };
    let options = match form.options.parse() {
        Ok(options) => Ok(options),
        Err(e) => Err(refusal(e).await),
    };
    Ok(Form {
        image: form.image,
        mask: form.mask,
        prompt: form.prompt,
        options,
    })
}

async fn refusal(error: OpenAiError) -> Refusal {
    let response = error.into_response();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    Refusal {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}
