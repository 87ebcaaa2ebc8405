//! Who is acting: every object, job and result records the principal that created it.

use serde::{Deserialize, Serialize};

/// The authenticated caller of a request, or the owner recorded on a resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Principal {
    /// Stable subject id; the value stored as `owner` on resources.
    pub id: String,
    /// Administrators see and act on every principal's resources.
    pub admin: bool,
}

impl Principal {
    /// The single principal of a deployment without authentication.
    pub fn local() -> Self {
        Principal {
            id: "local".to_owned(),
            admin: true,
        }
    }

    /// Whether this principal may see a resource owned by `owner`.
    pub fn can_access(&self, owner: &str) -> bool {
        self.admin || self.id == owner
    }
}
