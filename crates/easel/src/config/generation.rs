//! `[generation]` and `[engines]`: styles, moderation, retention and waits for generation
//! and editing, and which engines run. Provider engines are configured by their own
//! settings types (kept here as raw tables so `config check` can show them with secrets
//! masked); a table present means the engine is on.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::bail;
use easel_engines::{
    BedrockEngine, BedrockSettings, ClassicEngine, Engine, Engines, OpenAiEngine, OpenAiSettings,
};
use easel_services::generation::{GenerationSettings, Moderation, Style, builtin_styles};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `[generation]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenerationConfig {
    /// The model whose request rules apply when a request names none. Default
    /// `amazon.titan-image-generator-v2:0` (or `amazon.nova-canvas-v1:0`).
    pub default_model: String,
    /// Days that generated and edited images are kept; 0 keeps them forever. Default 30.
    pub retention_days: f64,
    /// Seconds between sweeps that delete expired outputs. Default 60.
    pub sweep_interval_secs: u64,
    /// Longest `?wait=` accepted, and how long the synchronous dialects (Bedrock,
    /// OpenAI, seed routes) wait for a result, in seconds. Default 300.
    pub max_wait_secs: u64,
    /// Largest generation request body in bytes (images travel in base64). Default 25 MiB.
    pub max_body_bytes: usize,
    /// Prompt moderation.
    pub moderation: ModerationConfig,
    /// Style presets, added to (or replacing) the built-in ones by name.
    pub styles: BTreeMap<String, Style>,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        let defaults = GenerationSettings::default();
        GenerationConfig {
            default_model: defaults.default_model,
            retention_days: 30.0,
            sweep_interval_secs: 60,
            max_wait_secs: defaults.max_wait_secs,
            max_body_bytes: defaults.max_body_bytes,
            moderation: ModerationConfig::default(),
            styles: BTreeMap::new(),
        }
    }
}

/// `[generation.moderation]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModerationConfig {
    /// Words and phrases refused in prompts (whole words, any case).
    pub deny: Vec<String>,
    /// Regular expressions refused in prompts (case-insensitive).
    pub patterns: Vec<String>,
}

/// `[engines]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnginesConfig {
    /// Preference order: the first engine able to do a task is its default. Engines
    /// not listed come after, in the order classic, bedrock, openai, diffusion.
    pub order: Vec<String>,
    /// Whether the `classic` engine (no weights, inpainting and outpainting) is on.
    /// Default true.
    pub classic: bool,
    /// Amazon Bedrock (`[engines.bedrock]`, see crates/easel-engines/README.md).
    pub bedrock: Option<Value>,
    /// Any OpenAI Images-compatible server (`[engines.openai]`).
    pub openai: Option<Value>,
    /// The local diffusion engine (`[engines.diffusion]`, see
    /// crates/easel-diffusion/README.md). In builds with the `diffusion` feature it runs
    /// with its defaults when absent; `enabled = false` turns it off.
    pub diffusion: Option<Value>,
}

impl Default for EnginesConfig {
    fn default() -> Self {
        EnginesConfig {
            order: Vec::new(),
            classic: true,
            bedrock: None,
            openai: None,
            diffusion: None,
        }
    }
}

/// Keys of provider settings whose values are secrets.
const SECRET_KEYS: [&str; 4] = [
    "secret_access_key",
    "session_token",
    "bearer_token",
    "api_key",
];

impl EnginesConfig {
    /// The `[engines.diffusion]` settings, or `None` when the engine is off. A build
    /// without the `diffusion` feature refuses a table that would turn it on.
    fn diffusion_table(&self) -> anyhow::Result<Option<serde_json::Map<String, Value>>> {
        let mut table = match &self.diffusion {
            None => serde_json::Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => bail!("[engines.diffusion] must be a table"),
        };
        let enabled = match table.remove("enabled") {
            None => true,
            Some(Value::Bool(on)) => on,
            Some(_) => bail!("[engines.diffusion] enabled must be true or false"),
        };
        if !enabled {
            return Ok(None);
        }
        if !cfg!(feature = "diffusion") {
            if self.diffusion.is_some() {
                bail!(
                    "[engines.diffusion]: the diffusion engine is not compiled into this build; \
                     rebuild with `cargo build --release --features diffusion` or set \
                     `enabled = false`"
                );
            }
            return Ok(None);
        }
        Ok(Some(table))
    }

    /// The diffusion engine's settings when it is on.
    #[cfg(feature = "diffusion")]
    pub fn diffusion_settings(&self) -> anyhow::Result<Option<easel_diffusion::DiffusionSettings>> {
        self.diffusion_table()?
            .map(|table| {
                serde_json::from_value(Value::Object(table))
                    .map_err(|e| anyhow::anyhow!("[engines.diffusion]: {e}"))
            })
            .transpose()
    }

    /// Builds the configured engines in preference order; `data_dir` holds the default
    /// models directory.
    pub fn build(&self, data_dir: &std::path::Path) -> anyhow::Result<Engines> {
        let mut built: Vec<Arc<dyn Engine>> = Vec::new();
        if self.classic {
            built.push(Arc::new(ClassicEngine::default()));
        }
        if let Some(table) = &self.bedrock {
            let settings: BedrockSettings = serde_json::from_value(table.clone())
                .map_err(|e| anyhow::anyhow!("[engines.bedrock]: {e}"))?;
            let engine = BedrockEngine::new(settings)
                .map_err(|e| anyhow::anyhow!("[engines.bedrock]: {e}"))?;
            built.push(Arc::new(engine));
        }
        if let Some(table) = &self.openai {
            let settings: OpenAiSettings = serde_json::from_value(table.clone())
                .map_err(|e| anyhow::anyhow!("[engines.openai]: {e}"))?;
            let engine = OpenAiEngine::new(settings)
                .map_err(|e| anyhow::anyhow!("[engines.openai]: {e}"))?;
            built.push(Arc::new(engine));
        }
        // Last by default: a provider someone configured stays the default.
        #[cfg(feature = "diffusion")]
        if let Some(settings) = self.diffusion_settings()? {
            let engine = easel_diffusion::DiffusionEngine::new(settings, data_dir)
                .map_err(|e| anyhow::anyhow!("[engines.diffusion]: {e}"))?;
            built.push(Arc::new(engine));
        }
        #[cfg(not(feature = "diffusion"))]
        {
            let _ = data_dir;
            self.diffusion_table()?;
        }
        for name in &self.order {
            if !built.iter().any(|e| e.name() == name) {
                bail!("engines.order names `{name}`, which is not configured");
            }
        }
        built.sort_by_key(|engine| {
            self.order
                .iter()
                .position(|n| n == engine.name())
                .unwrap_or(usize::MAX)
        });
        Ok(Engines::new(built))
    }

    /// A copy with provider secrets replaced by `***`.
    pub fn masked(&self) -> EnginesConfig {
        let mask = |table: &Option<Value>| {
            table.clone().map(|mut value| {
                if let Some(map) = value.as_object_mut() {
                    for key in SECRET_KEYS {
                        if let Some(secret) = map.get_mut(key)
                            && !secret.is_null()
                        {
                            *secret = Value::String("***".to_owned());
                        }
                    }
                }
                value
            })
        };
        EnginesConfig {
            bedrock: mask(&self.bedrock),
            openai: mask(&self.openai),
            ..self.clone()
        }
    }
}

impl GenerationConfig {
    /// The settings the API uses.
    pub fn settings(&self) -> anyhow::Result<GenerationSettings> {
        if easel_engines::model_family(&self.default_model).is_none() {
            bail!(
                "generation.default_model `{}` is not one of {}, {}",
                self.default_model,
                easel_engines::TITAN_IMAGE_V2,
                easel_engines::NOVA_CANVAS
            );
        }
        if !(self.retention_days >= 0.0 && self.retention_days.is_finite()) {
            bail!("generation.retention_days must be 0 or more");
        }
        let moderation = Moderation::new(&self.moderation.deny, &self.moderation.patterns)?;
        let mut styles = builtin_styles();
        styles.extend(self.styles.clone());
        Ok(GenerationSettings {
            default_model: self.default_model.clone(),
            styles,
            moderation,
            retention_secs: (self.retention_days * 86_400.0).round() as i64,
            max_wait_secs: self.max_wait_secs,
            max_body_bytes: self.max_body_bytes,
            webhooks: easel_core::WebhookPolicy::default(),
        })
    }
}
