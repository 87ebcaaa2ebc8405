//! The document as one running server serves it: the limits that come from its
//! configuration (the longest `?wait=`, the largest upload and its content types, the
//! most sources of a job) are written into the static document when the router is
//! built, so that what the document calls valid is what this server accepts.

use std::collections::BTreeMap;
use std::sync::Arc;

use easel_engines::engine::Engine;
use easel_engines::request::ModelFamily;
use easel_engines::{NOVA_CANVAS as NOVA, TITAN_IMAGE_V2 as TITAN};
use serde_json::{Value, json};

use super::bedrock_body::{TASKS, TEXTS};
use super::password_schema_of;
use super::patterns::any_case_choice;
use super::pipeline::{self, given};
use crate::state::AppState;
use easel_services::generation::Style;
use easel_services::identity::PasswordPolicy;
use easel_services::jobs::PipelineRules;

/// The configured limits the document states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// `generation.max_wait_secs`: the largest `?wait=`.
    pub max_wait_secs: u64,
    /// The largest upload, in bytes: the largest announced `size`.
    pub max_upload_bytes: u64,
    /// The content types an upload may have.
    pub content_types: Vec<String>,
    /// The most sources of one job.
    pub max_sources_per_job: usize,
    /// Whether some engine takes a `maskPrompt` (has a segmentation model).
    pub mask_prompts: bool,
    /// The style presets, by name.
    pub styles: BTreeMap<String, Style>,
    /// Whether callback URLs may name private addresses (then IP literals are allowed).
    pub private_callbacks: bool,
    /// The password policy.
    pub password_policy: PasswordPolicy,
    /// The presets' names.
    pub presets: Vec<String>,
    /// What an inline pipeline may ask for.
    pub pipeline: PipelineRules,
    /// Each task some engine can do (`TEXT_IMAGE`, …), with the engines that can, in
    /// order.
    pub tasks: BTreeMap<String, Vec<String>>,
}

impl Limits {
    /// The limits of the server `state` belongs to.
    pub fn of(state: &AppState) -> Limits {
        let services = &state.services;
        let uploads = services.ingest.settings();
        Limits {
            max_wait_secs: services.generation.settings().max_wait_secs,
            max_upload_bytes: uploads.max_upload_bytes,
            content_types: uploads.content_types.clone(),
            max_sources_per_job: services.jobs.max_sources_per_job(),
            presets: services.jobs.presets().keys().cloned().collect(),
            pipeline: services.jobs.pipeline_rules(),
            tasks: tasks(services.generation.engines().all()),
            password_policy: services.identity.settings().password_policy,
            private_callbacks: services.jobs.webhook_policy().allow_private,
            mask_prompts: services
                .generation
                .engines()
                .all()
                .iter()
                .any(|e| e.capabilities().mask_prompts),
            styles: services.generation.settings().styles.clone(),
        }
    }
}

/// The static document (`document`, JSON) with `limits` written in.
pub fn with_limits(document: &str, limits: &Limits) -> String {
    let mut doc: Value = serde_json::from_str(document).expect("the document is JSON");
    for item in object_values(&mut doc["paths"]) {
        for operation in object_values(item) {
            // (`get_mut`: indexing a JSON object mutably would add a null.)
            let Some(parameters) = operation
                .get_mut("parameters")
                .and_then(Value::as_array_mut)
            else {
                continue;
            };
            for parameter in parameters {
                if parameter["name"] == "wait" && parameter["in"] == "query" {
                    parameter["schema"]["maximum"] = json!(limits.max_wait_secs);
                }
                if parameter["name"] == "x-easel-engine" && parameter["in"] == "header" {
                    parameter["schema"] = json!({ "type": "string", "enum": engine_names(limits) });
                }
            }
        }
    }
    let schemas = &mut doc["components"]["schemas"];
    let presign = &mut schemas["PresignRequest"]["properties"];
    presign["size"]["maximum"] = json!(limits.max_upload_bytes);
    presign["contentType"]["pattern"] = json!(content_type_pattern(&limits.content_types));
    describe_jobs(schemas, limits);
    let image_urls = &mut schemas["ProcessRequest"]["properties"]["imageUrls"];
    image_urls["minItems"] = json!(1);
    image_urls["maxItems"] = json!(limits.max_sources_per_job);
    describe_tasks(schemas, &limits.tasks);
    describe_openai_engines(schemas, &limits.tasks);
    describe_callback_urls(schemas, limits.private_callbacks);
    describe_masks(schemas, limits);
    describe_native_rules(schemas, limits);
    let password = serde_json::to_value(password_schema_of(&limits.password_policy)).expect("JSON");
    for (schema, field) in [
        ("SignUp", "password"),
        ("ChangePassword", "newPassword"),
        ("ResetPassword", "newPassword"),
    ] {
        if let Some(property) = schemas
            .get_mut(schema)
            .and_then(|s| s.get_mut("properties"))
            .and_then(|p| p.get_mut(field))
        {
            *property = password.clone();
        }
    }
    serde_json::to_string_pretty(&doc).expect("the document serializes")
}

/// The engines that can do some task (the ones a request may name).
fn engine_names(limits: &Limits) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for name in limits.tasks.values().flatten() {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    names
}

/// `POST /v1/jobs`: a `process` job (the default kind) has 1 to `max_sources_per_job`
/// sources and exactly one of a configured preset and an inline pipeline; a `noop` job
/// has none of them (`Submitter::new_job`).
fn describe_jobs(schemas: &mut Value, limits: &Limits) {
    schemas["Pipeline"] = pipeline::schema(&limits.pipeline);
    let mut presets = json!(limits.presets);
    presets.as_array_mut().expect("an array").push(Value::Null);
    let job = &mut schemas["CreateJob"];
    let properties = &mut job["properties"];
    properties["kind"] = json!({ "enum": ["process", "noop"], "default": "process",
        "description": "`process` (the default) or `noop`; generations go through `/v1/generations`." });
    properties["sources"]["maxItems"] = json!(limits.max_sources_per_job);
    properties["preset"]["enum"] = presets;
    properties["pipeline"] = json!({ "oneOf": [
        { "$ref": "#/components/schemas/Pipeline" }, { "type": "null" } ],
        "description": "An inline pipeline in its JSON form; not with `preset`." });
    let noop = json!({ "required": ["kind"], "properties": { "kind": { "const": "noop" } } });
    job["oneOf"] = json!([
        {
            "title": "process",
            "not": noop,
            "required": ["sources"],
            "properties": { "sources": { "minItems": 1 } },
            "oneOf": [given("preset"), given("pipeline")],
        },
        {
            "title": "noop",
            "allOf": [noop],
            "properties": {
                "sources": { "maxItems": 0 },
                "preset": { "type": "null" },
                "pipeline": { "type": "null" },
                "callbackUrl": { "type": "null" },
            },
        },
    ]);
}

/// Which engines can do each task.
fn tasks(engines: &[Arc<dyn Engine>]) -> BTreeMap<String, Vec<String>> {
    let mut tasks: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for engine in engines {
        for task in &engine.capabilities().tasks {
            tasks
                .entry(task.to_string())
                .or_default()
                .push(engine.name().to_owned());
        }
    }
    tasks
}

/// The generation bodies (one per task) keep the tasks some engine can do, and each
/// names, as `engine`, only the engines that can do its task.
fn describe_tasks(schemas: &mut Value, tasks: &BTreeMap<String, Vec<String>>) {
    for name in [
        "InvokeModelBody",
        "InvokeModelBodyNova",
        "NativeGenerationBody",
    ] {
        let Some(variants) = schemas
            .get_mut(name)
            .and_then(|s| s.get_mut("oneOf"))
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        variants.retain(|v| {
            let task = v["properties"]["taskType"]["enum"][0].as_str();
            task.is_some_and(|t| tasks.contains_key(t))
        });
        for variant in variants.iter_mut() {
            let task = variant["properties"]["taskType"]["enum"][0]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let properties = &mut variant["properties"];
            if let Some(engine) = properties.get_mut("engine") {
                let mut names = json!(tasks[&task]);
                names.as_array_mut().expect("an array").push(Value::Null);
                engine["enum"] = names;
            }
        }
    }
}

/// The OpenAI routes' `engine`: one that can do the route's task (null only in JSON).
fn describe_openai_engines(schemas: &mut Value, tasks: &BTreeMap<String, Vec<String>>) {
    let able = |task: &str| tasks.get(task).cloned().unwrap_or_default();
    let mut generations = json!(able("TEXT_IMAGE"));
    generations
        .as_array_mut()
        .expect("an array")
        .push(Value::Null);
    let routes = [
        ("GenerationsRequest", generations),
        ("EditForm", json!(able("INPAINTING"))),
        ("VariationForm", json!(able("IMAGE_VARIATION"))),
    ];
    for (schema, names) in routes {
        if let Some(engine) = schemas
            .get_mut(schema)
            .and_then(|s| s.get_mut("properties"))
            .and_then(|p| p.get_mut("engine"))
        {
            engine["enum"] = names;
        }
    }
}

/// `callbackUrl` (`WebhookPolicy::check_url`): its syntax, with IP literals where private
/// addresses are allowed (otherwise addresses and `localhost` names are checked further,
/// which a pattern cannot say: the document names DNS names only).
fn describe_callback_urls(schemas: &mut Value, private: bool) {
    let pattern = json!(easel_core::callback_url_pattern(private));
    if let Some(url) = schemas.pointer_mut("/CreateJob/properties/callbackUrl") {
        url["pattern"] = pattern.clone();
    }
    if let Some(variants) = schemas
        .pointer_mut("/NativeGenerationBody/oneOf")
        .and_then(Value::as_array_mut)
    {
        for variant in variants {
            if let Some(url) = variant.pointer_mut("/properties/callbackUrl") {
                url["pattern"] = pattern.clone();
            }
        }
    }
}

/// Without an engine that segments, a mask is an image (`maskPrompt` is refused).
fn describe_masks(schemas: &mut Value, limits: &Limits) {
    if !limits.mask_prompts {
        for params in ["InPaintingParams", "OutPaintingParams"] {
            let params = &mut schemas[params];
            params["oneOf"] = json!([{ "required": ["maskImage"],
                "properties": { "maskImage": { "type": "string" } } }]);
            params["properties"]["maskPrompt"] = json!({ "type": "null",
                "description": "Needs an engine with a segmentation model; none here." });
        }
    }
}

/// The rules of `POST /v1/generations` that depend on other fields of the body
/// (`Generation::submit`): `model` picks the text limit (Titan's 512 characters, the
/// default, or Nova Canvas's 1024) and the seed range; a `stylePreset` is one of the
/// configured styles, needs a prompt, and its fragments count towards the limit (the
/// prompt becomes `"<text>, <style prompt>"`, the negative text
/// `"<negativeText>, <style negative>"`). Each task's body is one of the combinations
/// of model and style (`anyOf`), each stating its limits: written as `if`/`then` rules
/// instead, the schema is too involved for Schemathesis's generator to take.
fn describe_native_rules(schemas: &mut Value, limits: &Limits) {
    let mut styles = json!(limits.styles.keys().collect::<Vec<_>>());
    styles.as_array_mut().expect("an array").push(Value::Null);
    let Some(variants) = schemas
        .pointer_mut("/NativeGenerationBody/oneOf")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for variant in variants {
        let task = variant["properties"]["taskType"]["enum"][0]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let Some((_, key, params)) = TASKS.iter().find(|(t, _, _)| *t == task) else {
            continue;
        };
        let has_text = TEXTS.contains(params);
        let properties = &mut variant["properties"];
        properties["model"] = json!({ "enum": [TITAN, NOVA, null],
            "description": "Whose request rules apply (absent: Titan Image Generator v2)." });
        // `OutputFormat::parse`.
        properties["outputFormat"] = json!({ "type": ["string", "null"],
            "pattern": any_case_choice(&["png", "jpeg", "jpg", "webp"]),
            "description": "`png` (default), `jpeg` (or `jpg`) or `webp`, in any case." });
        properties["stylePreset"] = if has_text {
            json!({ "enum": styles,
                "description": "A style preset by name (`GET /v1/engines` lists them); it needs a prompt." })
        } else {
            json!({ "type": "null", "description": "A style applies to a prompt; this task has none." })
        };
        let mut combinations = Vec::new();
        for family in [ModelFamily::Titan, ModelFamily::Nova] {
            combinations.push(combination(key, family, None, has_text));
            if has_text {
                for (name, style) in &limits.styles {
                    combinations.push(combination(key, family, Some((name, style)), has_text));
                }
            }
        }
        variant["anyOf"] = Value::Array(combinations);
    }
}

/// One combination of `model` (`family`) and `style` (none: `stylePreset` absent or
/// null) with what it allows: the family's seeds, and texts within its limit less what
/// the style adds (a styled request needs a `text`).
fn combination(
    key: &str,
    family: ModelFamily,
    style: Option<(&String, &Style)>,
    has_text: bool,
) -> Value {
    let added = |fragment: &str| {
        if fragment.is_empty() {
            0
        } else {
            fragment.chars().count() + ", ".len()
        }
    };
    let mut required = Vec::new();
    let model = match family {
        ModelFamily::Nova => {
            required.push("model");
            json!({ "const": NOVA })
        }
        // Absent is Titan too.
        ModelFamily::Titan => json!({ "enum": [TITAN, null] }),
    };
    let mut properties = json!({
        "model": model,
        "imageGenerationConfig": {
            "properties": { "seed": { "maximum": family.max_seed() } } },
    });
    let (prompt, negative) = match style {
        None => {
            properties["stylePreset"] = json!({ "type": "null" });
            (0, 0)
        }
        Some((name, style)) => {
            required.push("stylePreset");
            properties["stylePreset"] = json!({ "const": name });
            (added(&style.prompt), added(&style.negative))
        }
    };
    if has_text {
        let limit = family.max_text();
        properties[key] = json!({ "properties": {
            "text": { "maxLength": limit.saturating_sub(prompt) },
            "negativeText": { "maxLength": limit.saturating_sub(negative) },
            "maskPrompt": { "maxLength": limit },
        } });
        if style.is_some() {
            // A text, not null (which is absent).
            properties[key]["required"] = json!(["text"]);
            properties[key]["properties"]["text"]["type"] = json!("string");
        }
    }
    json!({ "required": required, "properties": properties })
}

fn object_values(value: &mut Value) -> impl Iterator<Item = &mut Value> {
    value
        .as_object_mut()
        .into_iter()
        .flat_map(|map| map.values_mut())
}

/// The rule of `Ingest::presign_upload`: one of `types` in any ASCII case, white space
/// around it allowed.
fn content_type_pattern(types: &[String]) -> String {
    any_case_choice(types)
}
