//! The `bedrock` engine: forwards a request to Amazon Bedrock's `InvokeModel`
//! (`POST {endpoint}/model/{modelId}/invoke`), Titan Image Generator v2 for Titan bodies
//! and Nova Canvas for Nova bodies, signed with SigV4 (or a Bedrock API key), retrying
//! throttling and server errors with backoff.

mod body;
mod credentials;
mod errors;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use image::GrayImage;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::engine::{Capabilities, Engine, EngineError, GeneratedImage, Progress};
use crate::http::{Failure, RetryPolicy, SetupError, retry_after, with_retries};
use crate::registry::{NOVA_CANVAS, TITAN_IMAGE_V2};
use crate::request::{GenerationRequest, ModelFamily, Task, TaskType};

pub use body::to_bedrock_body;
pub use errors::{error_type_name, is_content_filter_message};

use credentials::{Auth, CredentialSource};

/// Settings of the `bedrock` engine (`[engines.bedrock]`). Every field is optional.
#[derive(Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BedrockSettings {
    /// AWS region. Default: `AWS_REGION`, then `AWS_DEFAULT_REGION`, then the profile's
    /// `region` in the shared config file, then `us-east-1`.
    pub region: Option<String>,
    /// Base URL of the Bedrock runtime, without a trailing path. Default
    /// `https://bedrock-runtime.{region}.amazonaws.com`; `http://` works too (a proxy,
    /// a test server, Easel's own Bedrock-compatible endpoint).
    pub endpoint: Option<String>,
    /// Model for Titan-format requests. Default `amazon.titan-image-generator-v2:0`.
    pub titan_model_id: Option<String>,
    /// Model for Nova-format requests (an inference profile id or ARN works too).
    /// Default `amazon.nova-canvas-v1:0`.
    pub nova_model_id: Option<String>,
    /// AWS access key id (with `secret_access_key`). Default: the environment, then the
    /// shared files.
    pub access_key_id: Option<String>,
    /// AWS secret access key. Never logged.
    pub secret_access_key: Option<String>,
    /// Session token of temporary credentials. Never logged.
    pub session_token: Option<String>,
    /// Profile in the shared files. Default: `AWS_PROFILE`, then `default`.
    pub profile: Option<String>,
    /// A Bedrock API key, sent as `Authorization: Bearer …` instead of SigV4. Default:
    /// `AWS_BEARER_TOKEN_BEDROCK`. Never logged.
    pub bearer_token: Option<String>,
    /// A file holding the Bedrock API key (instead of `bearer_token`).
    pub bearer_token_file: Option<PathBuf>,
    /// Time limit of one attempt, in seconds. Default 300 (premium images take a while).
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

impl std::fmt::Debug for BedrockSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("BedrockSettings")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("titan_model_id", &self.titan_model_id)
            .field("nova_model_id", &self.nova_model_id)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redacted(&self.secret_access_key))
            .field("session_token", &redacted(&self.session_token))
            .field("profile", &self.profile)
            .field("bearer_token", &redacted(&self.bearer_token))
            .field("bearer_token_file", &self.bearer_token_file)
            .field("timeout_secs", &self.timeout_secs)
            .field("max_attempts", &self.max_attempts)
            .field("backoff_base_ms", &self.backoff_base_ms)
            .field("backoff_max_ms", &self.backoff_max_ms)
            .finish()
    }
}

/// The `bedrock` engine.
pub struct BedrockEngine {
    client: reqwest::Client,
    endpoint: String,
    region: String,
    titan_model: String,
    nova_model: String,
    credentials: CredentialSource,
    retry: RetryPolicy,
    capabilities: Capabilities,
}

impl std::fmt::Debug for BedrockEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BedrockEngine")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("titan_model", &self.titan_model)
            .field("nova_model", &self.nova_model)
            .field("credentials", &self.credentials.describe())
            .field("retry", &self.retry)
            .finish()
    }
}

/// Bedrock's label encoding (as the AWS SDKs do it): everything but unreserved
/// characters is percent-encoded, so `amazon.titan-image-generator-v2:0` becomes
/// `amazon.titan-image-generator-v2%3A0`.
const LABEL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl BedrockEngine {
    /// Builds the engine from settings and the process environment: finds the region
    /// and credentials (reading the shared AWS files if it comes to that), but makes no
    /// network call. Fails when no credentials are found, naming where it looked.
    pub fn new(settings: BedrockSettings) -> Result<Self, SetupError> {
        Self::with_env(settings, &|name| std::env::var(name).ok())
    }

    fn with_env(settings: BedrockSettings, env: credentials::Env<'_>) -> Result<Self, SetupError> {
        let credentials = credentials::resolve(&settings, env).map_err(SetupError)?;
        let region = [
            settings.region.clone(),
            env("AWS_REGION"),
            env("AWS_DEFAULT_REGION"),
        ]
        .into_iter()
        .flatten()
        .map(|r| r.trim().to_owned())
        .find(|r| !r.is_empty())
        .or_else(|| credentials::profile_region(&settings, env))
        .unwrap_or_else(|| "us-east-1".to_owned());
        let endpoint = settings
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://bedrock-runtime.{region}.amazonaws.com"));
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&endpoint)
            .map_err(|e| SetupError(format!("bedrock.endpoint `{endpoint}`: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(SetupError(format!(
                "bedrock.endpoint `{endpoint}` must be an http(s) URL with a host"
            )));
        }
        let timeout = Duration::from_secs(settings.timeout_secs.unwrap_or(300).max(1));
        let engine = BedrockEngine {
            client: crate::http::client(timeout).map_err(SetupError)?,
            endpoint,
            region,
            titan_model: settings
                .titan_model_id
                .clone()
                .unwrap_or_else(|| TITAN_IMAGE_V2.to_owned()),
            nova_model: settings
                .nova_model_id
                .clone()
                .unwrap_or_else(|| NOVA_CANVAS.to_owned()),
            credentials,
            retry: RetryPolicy::from_settings(
                settings.max_attempts,
                settings.backoff_base_ms,
                settings.backoff_max_ms,
            ),
            capabilities: Capabilities {
                // Titan v2 and Nova Canvas both take all six; the provider rejects what a
                // particular model or region does not offer.
                tasks: TaskType::ALL.to_vec(),
                max_images: 5,
                follows_prompt: true,
                mask_prompts: true,
            },
        };
        tracing::debug!(engine = ?engine, "bedrock engine ready");
        Ok(engine)
    }

    /// The region requests are signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The invoke URL for a model.
    pub fn invoke_url(&self, model_id: &str) -> String {
        let label = utf8_percent_encode(model_id, LABEL);
        format!("{}/model/{label}/invoke", self.endpoint)
    }

    /// The model that serves `family`.
    pub fn model_id(&self, family: ModelFamily) -> &str {
        match family {
            ModelFamily::Titan => &self.titan_model,
            ModelFamily::Nova => &self.nova_model,
        }
    }

    /// One attempt: sign, send, read the whole response.
    async fn invoke(&self, url: &str, model_id: &str, body: &[u8]) -> Result<Vec<u8>, Failure> {
        let auth = self.credentials.current().map_err(|why| {
            Failure::fatal(EngineError::Provider {
                status: None,
                message: format!("bedrock credentials: {why}"),
                retryable: false,
            })
        })?;
        let mut headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("accept".to_owned(), "application/json".to_owned()),
        ];
        match auth {
            Auth::Bearer(token) => {
                headers.push(("authorization".into(), format!("Bearer {token}")))
            }
            Auth::SigV4(keys) => {
                headers.extend(self.sigv4_headers(&keys, url, &headers, body)?);
            }
        }
        let mut request = self.client.post(url).body(body.to_vec());
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Failure::transport("bedrock", &e))?;
        let status = response.status().as_u16();
        let response_headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| Failure::transport("bedrock", &e))?;
        if (200..300).contains(&status) {
            return Ok(bytes.to_vec());
        }
        let error_type = response_headers
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok());
        Err(errors::failure(&errors::ErrorContext {
            status,
            error_type,
            body: &bytes,
            model_id,
            region: &self.region,
            retry_after: retry_after(&response_headers),
        }))
    }

    /// The SigV4 headers (`authorization`, `x-amz-date`, `x-amz-security-token`) for a
    /// request with these headers and body, signed now.
    fn sigv4_headers(
        &self,
        keys: &Credentials,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Vec<(String, String)>, Failure> {
        let internal = |what: &str, e: &dyn std::error::Error| {
            Failure::fatal(EngineError::Internal(format!(
                "SigV4 signing failed ({what}): {}",
                crate::http::error_chain(e)
            )))
        };
        let identity = keys.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("bedrock")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| internal("parameters", &e))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            url,
            headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|e| internal("request", &e))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| internal("signature", &e))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect())
    }
}

#[async_trait]
impl Engine for BedrockEngine {
    fn name(&self) -> &str {
        "bedrock"
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    #[tracing::instrument(skip_all, fields(task = %request.task.task_type(), model))]
    async fn run(
        &self,
        request: &GenerationRequest,
        progress: &dyn Progress,
        cancel: &CancellationToken,
    ) -> Result<Vec<GeneratedImage>, EngineError> {
        let model_id = self.model_id(request.family);
        tracing::Span::current().record("model", model_id);
        let body = serde_json::to_vec(&to_bedrock_body(request))
            .map_err(|e| EngineError::Internal(format!("the body could not be written: {e}")))?;
        let url = self.invoke_url(model_id);
        progress.report(0, 1);
        let response = with_retries(&self.retry, cancel, "bedrock", || {
            self.invoke(&url, model_id, &body)
        })
        .await?;
        let outpainting = matches!(request.task, Task::Outpainting { .. });
        let images = tokio::task::spawn_blocking(move || decode_response(&response, outpainting))
            .await
            .map_err(|e| EngineError::Internal(format!("the decode task failed: {e}")))??;
        progress.report(1, 1);
        Ok(images)
    }
}

/// The success body: `{"images": [b64…], "maskImage"?: b64, "error": null | "…"}`.
#[derive(Deserialize)]
struct InvokeResponse {
    #[serde(default)]
    images: Vec<String>,
    #[serde(default, rename = "maskImage")]
    mask_image: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

fn decode_response(bytes: &[u8], outpainting: bool) -> Result<Vec<GeneratedImage>, EngineError> {
    let bad = |what: String| EngineError::Provider {
        status: Some(200),
        message: format!("Bedrock's response {what}"),
        retryable: false,
    };
    let response: InvokeResponse =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("is not the expected JSON: {e}")))?;
    if let Some(error) = response.error.as_deref().filter(|e| !e.is_empty()) {
        if response.images.is_empty() {
            return Err(EngineError::ContentFiltered(error.to_owned()));
        }
        // Nova: "Some of the generated images have been blocked by our content filters."
        tracing::warn!(
            error,
            kept = response.images.len(),
            "bedrock filtered some images"
        );
    }
    if response.images.is_empty() {
        return Err(bad("has no images".to_owned()));
    }
    let mask = response
        .mask_image
        .as_deref()
        .map(|b64| {
            let pixels = decode_b64_image(b64).map_err(|e| bad(format!("mask: {e}")))?;
            // Bedrock's mask is black where the mask was; GeneratedImage::mask is 255
            // where pixels were generated: the black area for inpainting, the rest for
            // outpainting.
            Ok::<_, EngineError>(GrayImage::from_fn(
                pixels.width(),
                pixels.height(),
                |x, y| {
                    let [r, g, b, _] = pixels.get_pixel(x, y).0;
                    let black =
                        (u32::from(r) * 299 + u32::from(g) * 587 + u32::from(b) * 114) / 1000 < 128;
                    image::Luma([if black != outpainting { 255 } else { 0 }])
                },
            ))
        })
        .transpose()?;
    response
        .images
        .iter()
        .enumerate()
        .map(|(i, b64)| {
            let pixels = decode_b64_image(b64).map_err(|e| bad(format!("image {i}: {e}")))?;
            Ok(GeneratedImage {
                pixels,
                mask: mask.clone(),
            })
        })
        .collect()
}

fn decode_b64_image(b64: &str) -> Result<image::RgbaImage, String> {
    let bytes = STANDARD
        .decode(b64.trim())
        .map_err(|e| format!("is not base64: {e}"))?;
    easel_image::decode_rgba(&bytes, &easel_image::Limits::default())
        .map(|(_, pixels)| pixels)
        .map_err(|e| format!("could not be decoded: {e}"))
}

#[cfg(test)]
mod tests;
