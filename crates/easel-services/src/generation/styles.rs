//! Style presets (seed 003: Anime, Realistic, Oil Painting, Sketch…): a prompt fragment
//! appended to the user's prompt and a negative text added to theirs. Built-ins can be
//! replaced or extended in configuration.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One style.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Style {
    /// The name shown to people, e.g. `Oil Painting`.
    pub label: String,
    /// Appended to the prompt, after a comma.
    pub prompt: String,
    /// Added to the negative prompt.
    #[serde(default)]
    pub negative: String,
}

/// The built-in styles, by name.
pub fn builtin_styles() -> BTreeMap<String, Style> {
    let style = |label: &str, prompt: &str, negative: &str| Style {
        label: label.to_owned(),
        prompt: prompt.to_owned(),
        negative: negative.to_owned(),
    };
    BTreeMap::from([
        (
            "anime".to_owned(),
            style(
                "Anime",
                "anime style, cel shading, vibrant colors, clean line art",
                "photorealistic, photo, 3d render",
            ),
        ),
        (
            "realistic".to_owned(),
            style(
                "Realistic",
                "photorealistic, natural lighting, sharp focus, high detail",
                "cartoon, illustration, painting, drawing",
            ),
        ),
        (
            "oil-painting".to_owned(),
            style(
                "Oil Painting",
                "oil painting on canvas, visible brush strokes, rich texture",
                "photo, digital art, flat colors",
            ),
        ),
        (
            "sketch".to_owned(),
            style(
                "Sketch",
                "pencil sketch, graphite on paper, hatching, monochrome",
                "color, photo, painting",
            ),
        ),
        (
            "watercolor".to_owned(),
            style(
                "Watercolor",
                "watercolor painting, soft washes, paper texture",
                "photo, hard edges, 3d render",
            ),
        ),
        (
            "cinematic".to_owned(),
            style(
                "Cinematic",
                "cinematic still, dramatic lighting, shallow depth of field, film grain",
                "cartoon, flat lighting",
            ),
        ),
    ])
}

impl Style {
    /// The prompt with this style: `"<prompt>, <fragment>"`.
    pub fn apply_prompt(&self, prompt: &str) -> String {
        if self.prompt.is_empty() {
            prompt.to_owned()
        } else {
            format!("{prompt}, {}", self.prompt)
        }
    }

    /// The negative text with this style's added, if either has any.
    pub fn apply_negative(&self, negative: Option<&str>) -> Option<String> {
        match (negative.filter(|n| !n.is_empty()), self.negative.is_empty()) {
            (Some(n), false) => Some(format!("{n}, {}", self.negative)),
            (Some(n), true) => Some(n.to_owned()),
            (None, false) => Some(self.negative.clone()),
            (None, true) => None,
        }
    }
}
