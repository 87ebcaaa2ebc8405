//! Calendar windows (UTC day, week from Monday, month) as the store counts them.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use easel_core::{Millis, QuotaPeriod};
use easel_store::QuotaWindow;

use super::QuotaLimits;

const DAY_MS: i64 = 86_400_000;

/// Whole seconds, rounded up, of a duration in milliseconds (0 when negative).
pub(super) fn ceil_secs(ms: i64) -> u64 {
    (ms.max(0) as u64).div_ceil(1000)
}

/// The start of the window `period` containing `now`, and the start of the next one.
pub(crate) fn window_bounds(period: QuotaPeriod, now: Millis) -> (Millis, Millis) {
    match period {
        QuotaPeriod::Day => {
            let start = now.div_euclid(DAY_MS) * DAY_MS;
            (start, start + DAY_MS)
        }
        QuotaPeriod::Week => {
            // 1970-01-01 was a Thursday: shift so weeks start on Monday.
            let days = now.div_euclid(DAY_MS);
            let monday = (days + 3).div_euclid(7) * 7 - 3;
            (monday * DAY_MS, (monday + 7) * DAY_MS)
        }
        QuotaPeriod::Month => {
            let today = DateTime::<Utc>::from_timestamp_millis(now)
                .unwrap_or_default()
                .date_naive();
            let first = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap_or(today);
            let next = first
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(first);
            let millis = |d: NaiveDate| {
                d.and_hms_opt(0, 0, 0)
                    .map(|t| t.and_utc().timestamp_millis())
                    .unwrap_or(now)
            };
            (millis(first), millis(next))
        }
    }
}

/// The store's windows for `limits` at `now`, each with its end.
pub(super) fn windows(limits: &QuotaLimits, now: Millis) -> Vec<(QuotaWindow, Millis)> {
    limits
        .limited()
        .map(|(period, limit)| {
            let (start, end) = window_bounds(period, now);
            let window = QuotaWindow {
                period: period.as_str().to_owned(),
                start,
                limit,
            };
            (window, end)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_start_at_utc_day_monday_and_the_first() {
        // 2026-03-19 (a Thursday) 15:00 UTC.
        let now = 1_773_932_400_000;
        let (day, next_day) = window_bounds(QuotaPeriod::Day, now);
        assert_eq!(easel_core::rfc3339(day), "2026-03-19T00:00:00.000Z");
        assert_eq!(next_day - day, DAY_MS);
        let (week, next_week) = window_bounds(QuotaPeriod::Week, now);
        assert_eq!(easel_core::rfc3339(week), "2026-03-16T00:00:00.000Z");
        assert_eq!(easel_core::rfc3339(next_week), "2026-03-23T00:00:00.000Z");
        let (month, next_month) = window_bounds(QuotaPeriod::Month, now);
        assert_eq!(easel_core::rfc3339(month), "2026-03-01T00:00:00.000Z");
        assert_eq!(easel_core::rfc3339(next_month), "2026-04-01T00:00:00.000Z");
    }
}
