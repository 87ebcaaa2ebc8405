//! Limits against hostile or accidental huge input, and the per-image time budget.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::ImageError;

/// Resource limits applied to every image. Checked from headers before any large
/// allocation; the time budget is checked between stages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest accepted input, in bytes. Default 64 MiB.
    pub max_input_bytes: u64,
    /// Largest accepted decoded image, in pixels (width × height). Default 50 000 000 (50 MP).
    pub max_pixels: u64,
    /// Largest output width in pixels. Default 16 383 (WebP's own maximum).
    pub max_output_width: u32,
    /// Largest output height in pixels. Default 16 383.
    pub max_output_height: u32,
    /// Wall-clock budget for one image, in milliseconds, checked after decoding and
    /// after every operation. Default 30 000. `0` disables the check.
    pub time_budget_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input_bytes: 64 * 1024 * 1024,
            max_pixels: 50_000_000,
            max_output_width: 16_383,
            max_output_height: 16_383,
            time_budget_ms: 30_000,
        }
    }
}

impl Limits {
    /// Refuses dimensions (from a header or an operation's plan) beyond the output limits.
    pub(crate) fn check_output(&self, op: &str, width: u64, height: u64) -> Result<(), ImageError> {
        if width > u64::from(self.max_output_width) || height > u64::from(self.max_output_height) {
            return Err(ImageError::OutputTooLarge {
                op: op.to_string(),
                width,
                height,
                max_width: self.max_output_width,
                max_height: self.max_output_height,
            });
        }
        Ok(())
    }

    /// Refuses an image whose header announces more pixels than allowed.
    pub fn check_pixels(&self, width: u32, height: u32) -> Result<(), ImageError> {
        let pixels = u64::from(width) * u64::from(height);
        if pixels > self.max_pixels {
            return Err(ImageError::ImageTooLarge {
                width,
                height,
                pixels,
                max_pixels: self.max_pixels,
            });
        }
        Ok(())
    }
}

/// The point in time by which one image must be done.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    start: Instant,
    budget: Option<Duration>,
}

impl Deadline {
    pub(crate) fn start(limits: &Limits) -> Self {
        Deadline {
            start: Instant::now(),
            budget: (limits.time_budget_ms > 0)
                .then(|| Duration::from_millis(limits.time_budget_ms)),
        }
    }

    /// Fails with [`ImageError::TimeBudgetExceeded`] naming `op` if the budget is spent.
    pub(crate) fn check(&self, op: &str) -> Result<(), ImageError> {
        let Some(budget) = self.budget else {
            return Ok(());
        };
        let elapsed = self.start.elapsed();
        if elapsed > budget {
            return Err(ImageError::TimeBudgetExceeded {
                op: op.to_string(),
                elapsed_ms: elapsed.as_millis() as u64,
                budget_ms: budget.as_millis() as u64,
            });
        }
        Ok(())
    }
}
