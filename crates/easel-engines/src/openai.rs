//! The `openai` engine: any OpenAI Images-compatible server. TEXT_IMAGE goes to
//! `/images/generations`, INPAINTING and OUTPAINTING to `/images/edits` (image and mask
//! PNGs made from the Titan request), IMAGE_VARIATION to `/images/variations`. Answers in
//! `b64_json` are decoded; answers with a `url` are downloaded.

mod errors;
mod mapping;

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::multipart::{Form, Part};
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::engine::{Capabilities, Engine, EngineError, GeneratedImage, Progress};
use crate::http::{Failure, RetryPolicy, SetupError, retry_after, with_retries};
use crate::request::{GenerationRequest, TaskType};

pub use mapping::NEUTRAL_EDIT_PROMPT;

use mapping::{Call, ModelKind};

/// The default server.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// The default model for generations and edits.
pub const DEFAULT_MODEL: &str = "gpt-image-1";
/// The default model for variations (the only OpenAI model that makes them).
pub const DEFAULT_VARIATION_MODEL: &str = "dall-e-2";

/// Settings of the `openai` engine (`[engines.openai]`). Every field is optional.
#[derive(Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiSettings {
    /// Base URL of the Images API, up to and including `/v1`. Default
    /// `https://api.openai.com/v1`.
    pub base_url: Option<String>,
    /// API key, sent as `Authorization: Bearer …`. Default: `OPENAI_API_KEY`. Required
    /// for api.openai.com; other servers may need none. Never logged.
    pub api_key: Option<String>,
    /// A file holding the API key (instead of `api_key`).
    pub api_key_file: Option<PathBuf>,
    /// `OpenAI-Organization` header, when the key belongs to several organizations.
    pub organization: Option<String>,
    /// `OpenAI-Project` header.
    pub project: Option<String>,
    /// Model for generations and edits. Default `gpt-image-1`.
    pub model: Option<String>,
    /// Model for variations. Default `dall-e-2`.
    pub variation_model: Option<String>,
    /// Time limit of one attempt, in seconds. Default 300.
    pub timeout_secs: Option<u64>,
    /// Attempts in all for throttling, server and connection errors. Default 3.
    pub max_attempts: Option<u32>,
    /// Backoff before the first retry, in milliseconds; it doubles per retry, with
    /// jitter. Default 500.
    pub backoff_base_ms: Option<u64>,
    /// Longest backoff, in milliseconds; a `retry-after` longer than this ends the
    /// retries. Default 10000.
    pub backoff_max_ms: Option<u64>,
}

impl std::fmt::Debug for OpenAiSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiSettings")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("api_key_file", &self.api_key_file)
            .field("organization", &self.organization)
            .field("project", &self.project)
            .field("model", &self.model)
            .field("variation_model", &self.variation_model)
            .field("timeout_secs", &self.timeout_secs)
            .field("max_attempts", &self.max_attempts)
            .field("backoff_base_ms", &self.backoff_base_ms)
            .field("backoff_max_ms", &self.backoff_max_ms)
            .finish()
    }
}

/// The `openai` engine.
pub struct OpenAiEngine {
    client: reqwest::Client,
    base_url: String,
    api_key: Option<String>,
    organization: Option<String>,
    project: Option<String>,
    model: String,
    variation_model: String,
    retry: RetryPolicy,
    capabilities: Capabilities,
}

impl std::fmt::Debug for OpenAiEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiEngine")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("variation_model", &self.variation_model)
            .field("retry", &self.retry)
            .finish()
    }
}

impl OpenAiEngine {
    /// Builds the engine from settings and the process environment, without any network
    /// call. Fails when api.openai.com is the server and no key is found.
    pub fn new(settings: OpenAiSettings) -> Result<Self, SetupError> {
        Self::with_env(settings, &|name| std::env::var(name).ok())
    }

    fn with_env(
        settings: OpenAiSettings,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, SetupError> {
        let base_url = settings
            .base_url
            .clone()
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let base_url = base_url.trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base_url)
            .map_err(|e| SetupError(format!("openai.base_url `{base_url}`: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(SetupError(format!(
                "openai.base_url `{base_url}` must be an http(s) URL with a host"
            )));
        }
        let api_key = match (&settings.api_key, &settings.api_key_file) {
            (Some(_), Some(_)) => {
                return Err(SetupError(
                    "openai: give one of `api_key` and `api_key_file`".into(),
                ));
            }
            (Some(key), None) => Some(key.trim().to_owned()),
            (None, Some(path)) => {
                Some(crate::http::secret_from_file(path, "openai.api_key").map_err(SetupError)?)
            }
            (None, None) => env("OPENAI_API_KEY").map(|k| k.trim().to_owned()),
        }
        .filter(|k| !k.is_empty());
        if api_key.is_none() && parsed.host_str() == Some("api.openai.com") {
            return Err(SetupError(
                "no API key for the openai engine: looked at the settings (api_key, \
                 api_key_file) and the OPENAI_API_KEY environment variable"
                    .into(),
            ));
        }
        let timeout = Duration::from_secs(settings.timeout_secs.unwrap_or(300).max(1));
        Ok(OpenAiEngine {
            client: crate::http::client(timeout).map_err(SetupError)?,
            base_url,
            api_key,
            organization: settings.organization.clone(),
            project: settings.project.clone(),
            model: settings
                .model
                .clone()
                .unwrap_or_else(|| DEFAULT_MODEL.to_owned()),
            variation_model: settings
                .variation_model
                .clone()
                .unwrap_or_else(|| DEFAULT_VARIATION_MODEL.to_owned()),
            retry: RetryPolicy::from_settings(
                settings.max_attempts,
                settings.backoff_base_ms,
                settings.backoff_max_ms,
            ),
            capabilities: Capabilities {
                tasks: vec![
                    TaskType::TextImage,
                    TaskType::Inpainting,
                    TaskType::Outpainting,
                    TaskType::ImageVariation,
                ],
                max_images: 5,
                follows_prompt: true,
                mask_prompts: false,
            },
        })
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.client.post(format!("{}{path}", self.base_url));
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        if let Some(organization) = &self.organization {
            request = request.header("OpenAI-Organization", organization);
        }
        if let Some(project) = &self.project {
            request = request.header("OpenAI-Project", project);
        }
        request
    }

    /// One call for `n` images: the request is rebuilt for every attempt (a multipart
    /// body cannot be replayed).
    async fn images(
        &self,
        call: &Call,
        request: &GenerationRequest,
        n: u32,
        cancel: &CancellationToken,
    ) -> Result<Vec<ImageData>, EngineError> {
        let bytes = with_retries(&self.retry, cancel, "openai", || async move {
            let builder = self.build(call, request, n);
            let response = builder
                .send()
                .await
                .map_err(|e| Failure::transport("openai", &e))?;
            read(response).await
        })
        .await?;
        let parsed: ImagesResponse =
            serde_json::from_slice(&bytes).map_err(|e| EngineError::Provider {
                status: Some(200),
                message: format!("the response is not the expected JSON: {e}"),
                retryable: false,
            })?;
        Ok(parsed.data)
    }

    fn build(&self, call: &Call, request: &GenerationRequest, n: u32) -> reqwest::RequestBuilder {
        let (w, h) = (request.config.width, request.config.height);
        match call {
            Call::Generate { prompt } => {
                let kind = ModelKind::of(&self.model);
                let mut body = json!({
                    "model": self.model,
                    "prompt": prompt,
                    "n": n,
                    "size": kind.size(w, h),
                });
                if let Some(quality) = kind.quality(request.config.quality) {
                    body["quality"] = quality.into();
                }
                if kind.takes_response_format() {
                    body["response_format"] = "b64_json".into();
                }
                self.post("/images/generations").json(&body)
            }
            Call::Edit {
                prompt,
                image_png,
                mask_png,
            } => {
                let kind = ModelKind::of(&self.model);
                let mut form = Form::new()
                    .part("image", png_part(image_png, "image.png"))
                    .part("mask", png_part(mask_png, "mask.png"))
                    .text("prompt", prompt.clone())
                    .text("model", self.model.clone())
                    .text("n", n.to_string())
                    .text("size", kind.size(w, h));
                if let Some(quality) = kind.quality(request.config.quality) {
                    form = form.text("quality", quality);
                }
                if kind.takes_response_format() {
                    form = form.text("response_format", "b64_json");
                }
                self.post("/images/edits").multipart(form)
            }
            Call::Vary { image_png } => {
                let kind = ModelKind::of(&self.variation_model);
                let mut form = Form::new()
                    .part("image", png_part(image_png, "image.png"))
                    .text("model", self.variation_model.clone())
                    .text("n", n.to_string())
                    .text("size", kind.size(w, h));
                if kind.takes_response_format() {
                    form = form.text("response_format", "b64_json");
                }
                self.post("/images/variations").multipart(form)
            }
        }
    }

    /// The pixels of one answer: decoded from `b64_json`, or downloaded from `url`.
    async fn pixels(
        &self,
        data: &ImageData,
        cancel: &CancellationToken,
    ) -> Result<image::RgbaImage, EngineError> {
        let bytes = match (&data.b64_json, &data.url) {
            (Some(b64), _) => STANDARD
                .decode(b64.trim())
                .map_err(|e| EngineError::Provider {
                    status: Some(200),
                    message: format!("b64_json is not base64: {e}"),
                    retryable: false,
                })?,
            (None, Some(url)) => {
                with_retries(
                    &self.retry,
                    cancel,
                    "openai image download",
                    || async move {
                        let response = self
                            .client
                            .get(url)
                            .send()
                            .await
                            .map_err(|e| Failure::transport("openai image download", &e))?;
                        read(response).await
                    },
                )
                .await?
            }
            (None, None) => {
                return Err(EngineError::Provider {
                    status: Some(200),
                    message: "an answer has neither b64_json nor url".to_owned(),
                    retryable: false,
                });
            }
        };
        tokio::task::spawn_blocking(move || {
            easel_image::decode_rgba(&bytes, &easel_image::Limits::default())
                .map(|(_, pixels)| pixels)
                .map_err(|e| EngineError::Provider {
                    status: Some(200),
                    message: format!("an image from OpenAI could not be decoded: {e}"),
                    retryable: false,
                })
        })
        .await
        .map_err(|e| EngineError::Internal(format!("the decode task failed: {e}")))?
    }
}

fn png_part(bytes: &[u8], name: &'static str) -> Part {
    Part::bytes(bytes.to_vec())
        .file_name(name)
        .mime_str("image/png")
        .expect("image/png is a valid MIME type")
}

/// The whole body of a successful response, or the failure it reports.
async fn read(response: reqwest::Response) -> Result<Vec<u8>, Failure> {
    let status = response.status().as_u16();
    let wait = retry_after(response.headers());
    let bytes = response
        .bytes()
        .await
        .map_err(|e| Failure::transport("openai", &e))?;
    if (200..300).contains(&status) {
        Ok(bytes.to_vec())
    } else {
        Err(errors::failure(status, &bytes, wait))
    }
}

#[derive(Deserialize)]
struct ImagesResponse {
    #[serde(default)]
    data: Vec<ImageData>,
}

#[derive(Deserialize)]
struct ImageData {
    #[serde(default)]
    b64_json: Option<String>,
    #[serde(default)]
    url: Option<String>,
}

#[async_trait]
impl Engine for OpenAiEngine {
    fn name(&self) -> &str {
        "openai"
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    #[tracing::instrument(skip_all, fields(task = %request.task.task_type()))]
    async fn run(
        &self,
        request: &GenerationRequest,
        progress: &dyn Progress,
        cancel: &CancellationToken,
    ) -> Result<Vec<GeneratedImage>, EngineError> {
        let call = mapping::call(request)?;
        let model = match call {
            Call::Vary { .. } => &self.variation_model,
            _ => &self.model,
        };
        let wanted = request.config.number_of_images;
        let per_call = ModelKind::of(model).max_n().min(wanted).max(1);
        progress.report(0, 1);
        let mut answers = Vec::with_capacity(wanted as usize);
        while (answers.len() as u32) < wanted {
            let n = per_call.min(wanted - answers.len() as u32);
            let data = self.images(&call, request, n, cancel).await?;
            if data.is_empty() {
                return Err(EngineError::Provider {
                    status: Some(200),
                    message: "the response has no images".to_owned(),
                    retryable: false,
                });
            }
            answers.extend(data);
        }
        let mut images = Vec::with_capacity(answers.len());
        for data in answers.iter().take(wanted as usize) {
            images.push(GeneratedImage {
                pixels: self.pixels(data, cancel).await?,
                mask: None,
            });
        }
        progress.report(1, 1);
        Ok(images)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_required_for_api_openai_com_only() {
        let none = |_: &str| None;
        let err = OpenAiEngine::with_env(OpenAiSettings::default(), &none).unwrap_err();
        assert!(err.0.contains("OPENAI_API_KEY"), "{err}");
        let env = |name: &str| (name == "OPENAI_API_KEY").then(|| "sk-env".to_owned());
        let engine = OpenAiEngine::with_env(OpenAiSettings::default(), &env).unwrap();
        assert_eq!(engine.api_key.as_deref(), Some("sk-env"));
        let local = OpenAiSettings {
            base_url: Some("http://127.0.0.1:9/v1/".into()),
            ..OpenAiSettings::default()
        };
        let engine = OpenAiEngine::with_env(local, &none).unwrap();
        assert_eq!(engine.base_url, "http://127.0.0.1:9/v1");
        assert!(engine.api_key.is_none());
    }

    #[test]
    fn debug_output_hides_the_key() {
        let settings = OpenAiSettings {
            api_key: Some("sk-secret-value".into()),
            ..OpenAiSettings::default()
        };
        assert!(!format!("{settings:?}").contains("sk-secret-value"));
        let engine = OpenAiEngine::new(settings).unwrap();
        assert!(!format!("{engine:?}").contains("sk-secret-value"));
    }
}
