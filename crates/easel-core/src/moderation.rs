//! Image moderation's vocabulary: what happens to an image a moderation model finds
//! unsafe classes in, per surface (uploads, process outputs, generated and edited images).

use serde::{Deserialize, Serialize};

/// What to do with an image in which the moderation model finds an unsafe class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModerationPolicy {
    /// No check.
    #[default]
    Off,
    /// Stored as is, and recorded in the audit log (`image-flagged`) for admins.
    Flag,
    /// The unsafe regions blurred before storing, and recorded (`image-blurred`).
    Blur,
    /// Not stored; the request fails as a provider's output filter does
    /// (`content-filtered` for generations, `content-blocked` for uploads and process
    /// outputs), and recorded (`image-blocked`).
    Block,
}

/// Where an image comes from, for its moderation policy and the audit record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModerationSurface {
    /// Uploaded images.
    Uploads,
    /// Generated or edited images.
    Generations,
    /// Outputs of process jobs.
    Outputs,
}

impl ModerationSurface {
    /// The surface's name in configuration and audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            ModerationSurface::Uploads => "uploads",
            ModerationSurface::Generations => "generations",
            ModerationSurface::Outputs => "outputs",
        }
    }
}
