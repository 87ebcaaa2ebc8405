//! The document as one running server serves it: the limits that come from its
//! configuration (the longest `?wait=`, the largest upload and its content types, the
//! most sources of a job) are written into the static document when the router is
//! built, so that what the document calls valid is what this server accepts.

use serde_json::{Value, json};

use super::patterns::any_case_choice;
use crate::state::AppState;

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
            }
        }
    }
    let schemas = &mut doc["components"]["schemas"];
    let presign = &mut schemas["PresignRequest"]["properties"];
    presign["size"]["maximum"] = json!(limits.max_upload_bytes);
    presign["contentType"]["pattern"] = json!(content_type_pattern(&limits.content_types));
    let sources = &mut schemas["CreateJob"]["properties"]["sources"];
    sources["minItems"] = json!(1);
    sources["maxItems"] = json!(limits.max_sources_per_job);
    serde_json::to_string_pretty(&doc).expect("the document serializes")
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
