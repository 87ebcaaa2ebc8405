//! Retry delays: exponential in the attempt number, capped, with jitter so that jobs
//! that failed together do not retry together.

use std::time::Duration;

use rand::RngExt;

/// The delay before the attempt after `attempt` (1-based): `base · 2^(attempt-1)`,
/// capped at `max`, then drawn uniformly from its upper half.
pub fn retry_delay(attempt: u32, base: Duration, max: Duration) -> Duration {
    let exponent = attempt.saturating_sub(1).min(30);
    let full = base.saturating_mul(1 << exponent).min(max);
    let half = full / 2;
    let jitter_ms = rand::rng().random_range(0..=half.as_millis() as u64);
    half + Duration::from_millis(jitter_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_jitter_and_caps() {
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(60);
        for _ in 0..200 {
            let first = retry_delay(1, base, max);
            assert!(first >= Duration::from_millis(500) && first <= base);
            let third = retry_delay(3, base, max);
            assert!(third >= Duration::from_secs(2) && third <= Duration::from_secs(4));
            let capped = retry_delay(40, base, max);
            assert!(capped >= Duration::from_secs(30) && capped <= max);
        }
    }
}
