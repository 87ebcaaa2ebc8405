//! Timestamps: stored as integer milliseconds since the Unix epoch (portable across
//! SQLite and PostgreSQL), rendered as RFC 3339 at the edge.

use chrono::{DateTime, SecondsFormat, Utc};

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// The current time in milliseconds since the Unix epoch.
pub fn now_millis() -> Millis {
    Utc::now().timestamp_millis()
}

/// Formats a millisecond timestamp as RFC 3339 UTC, e.g. `2024-01-15T10:30:00.000Z`.
pub fn rfc3339(millis: Millis) -> String {
    DateTime::<Utc>::from_timestamp_millis(millis)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}
