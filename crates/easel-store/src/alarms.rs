//! What alarms are evaluated over and what they remember, shared by every process of a
//! deployment: the job and generation figures of a time window (read from the jobs,
//! queue and request-log tables, so every process sees the same numbers), one stored
//! datapoint per alarm and period (the first process to compute it wins), each alarm's
//! state with a version for compare-and-set transitions, and the transitions' history.

use async_trait::async_trait;
use easel_core::Millis;

use crate::StoreError;

/// What happened in `[from, to)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowStats {
    /// Jobs (not webhook deliveries) that completed.
    pub completed: u64,
    /// Jobs (not webhook deliveries) that failed for good.
    pub failed: u64,
    /// Jobs whose worker stopped answering (lease expired), dead or retried.
    pub timeouts: u64,
    /// Engine latencies of the generations logged, in milliseconds.
    pub latencies_ms: Vec<u64>,
}

/// HTTP answers counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpCounts {
    /// All of them.
    pub total: u64,
    /// The 4xx.
    pub client: u64,
    /// The 5xx.
    pub server: u64,
}

/// An alarm's state as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmRecord {
    /// The alarm's name.
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    /// Why, in words.
    pub reason: String,
    /// Since when.
    pub since: Millis,
    /// Bumped by every transition (compare-and-set).
    pub version: i64,
}

/// One change of state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmTransition {
    /// The alarm's name.
    pub name: String,
    /// When.
    pub at: Millis,
    /// The state before.
    pub from: String,
    /// The state after.
    pub to: String,
    /// Why.
    pub reason: String,
}

/// Alarm data.
#[async_trait]
pub trait Alarms: Send + Sync {
    /// The figures of the window `[from, to)`.
    async fn window_stats(&self, from: Millis, to: Millis) -> Result<WindowStats, StoreError>;

    /// When the oldest job waiting in the queue was created (`None`: none waits).
    async fn oldest_waiting(&self) -> Result<Option<Millis>, StoreError>;

    /// Stores `alarm`'s datapoint for the period ending at `period_end` (`None`: no
    /// data), unless one is stored already: the first process to compute it wins.
    async fn put_datapoint(
        &self,
        alarm: &str,
        period_end: Millis,
        value: Option<f64>,
    ) -> Result<(), StoreError>;

    /// `alarm`'s stored datapoints for periods ending in `(after, through]`, newest first.
    async fn datapoints(
        &self,
        alarm: &str,
        after: Millis,
        through: Millis,
    ) -> Result<Vec<(Millis, Option<f64>)>, StoreError>;

    /// Every alarm's stored state.
    async fn alarm_states(&self) -> Result<Vec<AlarmRecord>, StoreError>;

    /// Moves `name` to `to` if its version is still `expected` (0: it has no stored state
    /// yet, which reads as `INSUFFICIENT_DATA`), recording the transition. False when
    /// another process moved it first.
    async fn transition_alarm(
        &self,
        name: &str,
        expected: i64,
        to: &str,
        reason: &str,
        at: Millis,
    ) -> Result<bool, StoreError>;

    /// Adds a process's HTTP answers of one second: all of them, the 4xx, the 5xx.
    async fn add_http_counts(
        &self,
        process: &str,
        second: Millis,
        counts: HttpCounts,
    ) -> Result<(), StoreError>;

    /// Every process's HTTP answers in seconds `[from, to)`, summed.
    async fn http_counts(&self, from: Millis, to: Millis) -> Result<HttpCounts, StoreError>;

    /// Forgets the HTTP counts of seconds before `before`; returns how many rows went.
    async fn prune_http_counts(&self, before: Millis) -> Result<u64, StoreError>;

    /// Transitions, newest first, of one alarm or all.
    async fn alarm_history(
        &self,
        name: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AlarmTransition>, StoreError>;
}
