//! Submitting a generation: options checked, body validated with Bedrock's rules (off
//! the async workers: validation decodes the images), prompt moderated, engine chosen,
//! style applied and seed fixed; a replayed idempotency key answered with its job; only
//! then the quota counted and the job created.

use std::sync::Arc;

use easel_core::{GenerateSpec, JobId, JobKind, OutputFormat, Principal, TaskType, now_millis};
use easel_engines::request::{self, GenerationRequest, ModelFamily, Task};
use easel_engines::{ChooseError, Engine, Engines, model_family};
use easel_store::{Job, NewJob, RequestRecord};
use serde_json::{Map, Value, json};

use super::styles::Style;
use super::{GenError, Generation, GenerationInput, REFUSAL};
use crate::error::{ServiceError, blocking};
use crate::jobs::submit::{create_charged, request_hash};

impl Generation {
    /// Validates, moderates and enqueues a generation for `caller`; returns the job (the
    /// earlier one for a replayed `Idempotency-Key`, which is not counted again).
    pub async fn submit(
        &self,
        caller: &Principal,
        input: GenerationInput,
    ) -> Result<Job, GenError> {
        let settings = &self.settings;
        let model = input
            .model
            .clone()
            .unwrap_or_else(|| settings.default_model.clone());
        let family = model_family(&model).ok_or_else(|| GenError::BadOption {
            code: "unknown-model",
            field: "model",
            message: format!(
                "the model `{model}` is not supported; use {} or {}",
                easel_engines::TITAN_IMAGE_V2,
                easel_engines::NOVA_CANVAS
            ),
        })?;
        if let Some(q) = input.output_quality
            && !(1..=100).contains(&q)
        {
            return Err(GenError::BadOption {
                code: "invalid-output-quality",
                field: "outputQuality",
                message: format!("outputQuality must be 1–100, not {q}"),
            });
        }
        let style = self.style(input.style.as_deref())?;
        let body = input.body.clone();
        let parsed = blocking(move || request::parse(&body, family))
            .await?
            .map_err(|v| GenError::Invalid {
                message: v.bedrock_message(),
                pointer: Some(v.pointer),
            })?;
        let task = parsed.task.task_type();
        let prompt = parsed.task.text().map(str::to_owned);
        let negative = negative_text(&parsed);

        if let Some(text) = &prompt
            && !settings.moderation.allows(text)
        {
            self.log_refusal(caller, &input, &parsed, &model).await;
            return Err(GenError::Refused(REFUSAL.to_owned()));
        }

        if let Some(url) = &input.callback_url {
            settings
                .webhooks
                .check_url(url)
                .map_err(|message| GenError::BadOption {
                    code: "invalid-callback-url",
                    field: "callbackUrl",
                    message,
                })?;
        }
        let engines = &self.ports.engines;
        let requested = match input.engine.as_deref() {
            Some(name) if input.engine_preferred => engines.preferred(name, task),
            named => named,
        };
        let engine = choose_engine(engines, requested, task)?;
        let max_images = engine.capabilities().max_images;
        if parsed.config.number_of_images > max_images {
            return Err(GenError::Invalid {
                message: format!(
                    "Malformed input request: #/imageGenerationConfig/numberOfImages: the `{}` engine makes at most {max_images} images per request, please reformat your input and try again.",
                    engine.name()
                ),
                pointer: Some("#/imageGenerationConfig/numberOfImages".to_owned()),
            });
        }

        // The stored body: the style applied, the seed fixed.
        let mut stored = input.body.clone();
        if let Some((name, style)) = &style {
            let texts = Texts {
                prompt: prompt.as_deref(),
                negative: negative.as_deref(),
            };
            apply_style(&mut stored, task, family, name, style, texts)?;
        }
        set_seed(&mut stored, Some(parsed.config.seed));

        let class = task.op_class();
        let spec = GenerateSpec {
            request: stored,
            model: model.clone(),
            engine: engine.name().to_owned(),
            output_format: input.output_format.unwrap_or(OutputFormat::Png),
            output_quality: input.output_quality,
            style_preset: style.map(|(name, _)| name),
            prompt,
            negative_prompt: negative,
            task_type: task,
            operation: class,
            width: parsed.config.width,
            height: parsed.config.height,
            number_of_images: parsed.config.number_of_images,
            seed: parsed.config.seed,
            cfg_scale: parsed.config.cfg_scale,
            quality: parsed.config.quality,
            dialect: input.dialect,
            callback_url: input.callback_url.clone(),
        };
        let now = now_millis();
        let new = NewJob {
            id: JobId::new(),
            owner: caller.id.clone(),
            kind: JobKind::Generate,
            spec: serde_json::to_value(&spec).map_err(ServiceError::internal)?,
            image_count: spec.number_of_images,
            max_attempts: self.max_attempts,
            idempotency_key: input
                .idempotency_key
                .as_ref()
                .map(|k| k.as_str().to_owned()),
            request_hash: input_hash(&input, &model),
            expires_at: (settings.retention_secs > 0).then(|| now + settings.retention_secs * 1000),
        };
        let submitted = create_charged(
            self.ports.jobs.as_ref(),
            &self.usage,
            &caller.id,
            new,
            Some(class),
        )
        .await?;
        Ok(submitted.job)
    }

    /// The style preset named `name`, with its name.
    fn style(&self, name: Option<&str>) -> Result<Option<(String, Style)>, GenError> {
        let Some(name) = name else {
            return Ok(None);
        };
        let styles = &self.settings.styles;
        let style = styles
            .get(name)
            .cloned()
            .ok_or_else(|| GenError::BadOption {
                code: "unknown-style",
                field: "stylePreset",
                message: format!(
                    "no style preset `{name}`; known: {}",
                    styles.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            })?;
        Ok(Some((name.to_owned(), style)))
    }

    async fn log_refusal(
        &self,
        caller: &Principal,
        input: &GenerationInput,
        parsed: &GenerationRequest,
        model: &str,
    ) {
        let record = RequestRecord {
            id: uuid::Uuid::now_v7().to_string(),
            owner: caller.id.clone(),
            at: now_millis(),
            dialect: input.dialect.as_str().to_owned(),
            task_type: parsed.task.task_type().as_str().to_owned(),
            prompt: parsed.task.text().map(str::to_owned),
            engine: input.engine.clone().unwrap_or_default(),
            model: model.to_owned(),
            seed: Some(parsed.config.seed),
            status: "refused".to_owned(),
            error_code: Some(
                easel_core::EngineErrorCode::ContentFiltered
                    .as_str()
                    .to_owned(),
            ),
            latency_ms: None,
            output_bytes: 0,
            image_count: 0,
            job_id: None,
        };
        if let Err(error) = self.ports.request_log.log_request(&record).await {
            tracing::warn!(%error, "could not log a refused request");
        }
    }
}

fn choose_engine<'a>(
    engines: &'a Engines,
    requested: Option<&str>,
    task: TaskType,
) -> Result<&'a Arc<dyn Engine>, GenError> {
    engines
        .choose(requested, task)
        .map_err(|error| match error {
            ChooseError::Unknown { .. } => GenError::BadOption {
                code: "unknown-engine",
                field: "engine",
                message: error.to_string(),
            },
            ChooseError::Unsupported(inner) => GenError::Unsupported(inner.to_string()),
            ChooseError::Unavailable { .. } => GenError::Unavailable(error.to_string()),
        })
}

/// A hash of what the client sent, for idempotency (the stored spec has a random seed
/// filled in, so it cannot be compared across retries).
fn input_hash(input: &GenerationInput, model: &str) -> String {
    let canonical = json!({
        "body": input.body,
        "model": model,
        "engine": input.engine,
        "format": input.output_format,
        "quality": input.output_quality,
        "style": input.style,
        "callbackUrl": input.callback_url,
    });
    request_hash(&canonical.to_string())
}

fn negative_text(parsed: &GenerationRequest) -> Option<String> {
    match &parsed.task {
        Task::TextImage { negative_text, .. }
        | Task::Inpainting { negative_text, .. }
        | Task::Outpainting { negative_text, .. }
        | Task::ImageVariation { negative_text, .. }
        | Task::ColorGuided { negative_text, .. } => negative_text.clone(),
        Task::BackgroundRemoval { .. } => None,
    }
}

/// The user's own prompt and negative text.
#[derive(Clone, Copy)]
struct Texts<'a> {
    prompt: Option<&'a str>,
    negative: Option<&'a str>,
}

/// Writes the styled prompt and negative text into the body's task parameters.
fn apply_style(
    body: &mut Value,
    task: TaskType,
    family: ModelFamily,
    name: &str,
    style: &Style,
    texts: Texts<'_>,
) -> Result<(), GenError> {
    let key = task.params_key();
    let Some(prompt) = texts.prompt else {
        return Err(GenError::BadOption {
            code: "style-needs-prompt",
            field: "stylePreset",
            message: format!("a style preset applies to a prompt; this {task} request has none"),
        });
    };
    let limit = family.max_text();
    let styled = style.apply_prompt(prompt);
    let negative = style.apply_negative(texts.negative);
    for (field, text) in [("text", Some(&styled)), ("negativeText", negative.as_ref())] {
        if let Some(text) = text {
            let length = text.chars().count();
            if length > limit {
                let pointer = format!("#/{key}/{field}");
                return Err(GenError::Invalid {
                    message: format!(
                        "Malformed input request: {pointer}: with the style `{name}` added the text is {length} characters, more than the {limit} allowed; shorten it or use no style, please reformat your input and try again."
                    ),
                    pointer: Some(pointer),
                });
            }
        }
    }
    let params = body
        .get_mut(key)
        .and_then(Value::as_object_mut)
        .ok_or_else(|| ServiceError::internal("a parsed body lacks its parameters object"))?;
    params.insert("text".to_owned(), Value::String(styled));
    if let Some(negative) = negative {
        params.insert("negativeText".to_owned(), Value::String(negative));
    }
    Ok(())
}

/// Fixes the seed in the body's `imageGenerationConfig`, so a retry or a re-run makes the
/// same images.
pub(super) fn set_seed(body: &mut Value, seed: Option<u32>) {
    let Some(root) = body.as_object_mut() else {
        return;
    };
    let config = root
        .entry("imageGenerationConfig")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(config) = config.as_object_mut() {
        match seed {
            Some(seed) => config.insert("seed".to_owned(), json!(seed)),
            None => config.remove("seed"),
        };
    }
}
