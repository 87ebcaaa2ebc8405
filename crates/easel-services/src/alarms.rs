//! Alarms as CloudWatch models them: a rule watches one metric per period, compares
//! each period's datapoint with a threshold, and is `ALARM` when at least
//! `datapoints_to_alarm` of the last `evaluation_periods` datapoints breach it, `OK`
//! when fewer do, `INSUFFICIENT_DATA` when none of them has data. The datapoints come
//! from the shared database (jobs, queue, request log), are stored once per period by
//! whichever process computes them first, and state changes are compare-and-set, so
//! several processes evaluating the same rules agree and notify once. Changes into and
//! out of `ALARM` are POSTed as signed webhooks and e-mailed, both through the queue.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use easel_core::{
    EmailSpec, JobId, JobKind, Millis, Principal, WebhookSpec, now_millis, owner_secret, rfc3339,
};
use easel_store::{
    AlarmRecord, AlarmTransition, Alarms, HttpCounts, Jobs as JobStore, NewJob, Queue,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::error::ServiceError;

/// The owner of alarm notifications (their webhooks are signed with its secret).
pub const ALARM_OWNER: &str = "system:alarms";

/// What a rule watches, per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmMetric {
    /// Jobs that failed for good (the dead-letter queue's arrivals).
    DeadJobs,
    /// Failed jobs over finished ones (no data when none finished): the error rate.
    FailedJobRatio,
    /// Jobs whose worker stopped answering (lease expired).
    Timeouts,
    /// Jobs waiting in the queue at the period's end.
    QueueDepth,
    /// Age of the oldest waiting job at the period's end, in seconds (0 when none).
    OldestPendingSeconds,
    /// The 99th percentile of generation engine latency, in milliseconds (no data when
    /// nothing was generated).
    GenerationLatencyP99Ms,
    /// 5xx answers over all answers of every process (no data without requests).
    Http5xxRatio,
    /// 4xx answers over all answers of every process (no data without requests).
    Http4xxRatio,
}

impl FromStr for AlarmMetric {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "dead_jobs" => AlarmMetric::DeadJobs,
            "failed_job_ratio" => AlarmMetric::FailedJobRatio,
            "timeouts" => AlarmMetric::Timeouts,
            "queue_depth" => AlarmMetric::QueueDepth,
            "oldest_pending_seconds" => AlarmMetric::OldestPendingSeconds,
            "generation_latency_p99_ms" => AlarmMetric::GenerationLatencyP99Ms,
            "http_5xx_ratio" => AlarmMetric::Http5xxRatio,
            "http_4xx_ratio" => AlarmMetric::Http4xxRatio,
            other => {
                return Err(format!(
                    "unknown alarm metric `{other}`; one of dead_jobs, failed_job_ratio, \
                     timeouts, queue_depth, oldest_pending_seconds, generation_latency_p99_ms, \
                     http_5xx_ratio, http_4xx_ratio"
                ));
            }
        })
    }
}

impl AlarmMetric {
    /// Its name in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmMetric::DeadJobs => "dead_jobs",
            AlarmMetric::FailedJobRatio => "failed_job_ratio",
            AlarmMetric::Timeouts => "timeouts",
            AlarmMetric::QueueDepth => "queue_depth",
            AlarmMetric::OldestPendingSeconds => "oldest_pending_seconds",
            AlarmMetric::GenerationLatencyP99Ms => "generation_latency_p99_ms",
            AlarmMetric::Http5xxRatio => "http_5xx_ratio",
            AlarmMetric::Http4xxRatio => "http_4xx_ratio",
        }
    }

    /// Whether it is counted from the processes' HTTP answers (flushed to the database
    /// each tick, so its periods are evaluated a tick late).
    fn is_http(self) -> bool {
        matches!(self, AlarmMetric::Http5xxRatio | AlarmMetric::Http4xxRatio)
    }
}

/// This process's HTTP answers since the last flush, counted by the API's middleware.
#[derive(Debug, Default)]
pub struct HttpTally {
    total: AtomicU64,
    client: AtomicU64,
    server: AtomicU64,
}

impl HttpTally {
    /// Counts one answer.
    pub fn record(&self, status: u16) {
        self.total.fetch_add(1, Ordering::Relaxed);
        match status {
            400..=499 => self.client.fetch_add(1, Ordering::Relaxed),
            500..=599 => self.server.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
    }

    /// The answers counted since the last call.
    fn take(&self) -> HttpCounts {
        HttpCounts {
            total: self.total.swap(0, Ordering::Relaxed),
            client: self.client.swap(0, Ordering::Relaxed),
            server: self.server.swap(0, Ordering::Relaxed),
        }
    }
}

/// How a datapoint is compared with the threshold (CloudWatch's operators).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `>`
    GreaterThan,
    /// `>=`
    GreaterOrEqual,
    /// `<`
    LessThan,
    /// `<=`
    LessOrEqual,
}

impl FromStr for Comparison {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "greater_than" => Comparison::GreaterThan,
            "greater_or_equal" => Comparison::GreaterOrEqual,
            "less_than" => Comparison::LessThan,
            "less_or_equal" => Comparison::LessOrEqual,
            other => {
                return Err(format!(
                    "unknown comparison `{other}`; one of greater_than, greater_or_equal, \
                     less_than, less_or_equal"
                ));
            }
        })
    }
}

impl Comparison {
    fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::GreaterThan => value > threshold,
            Comparison::GreaterOrEqual => value >= threshold,
            Comparison::LessThan => value < threshold,
            Comparison::LessOrEqual => value <= threshold,
        }
    }

    /// `>`, `>=`, `<` or `<=`.
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::GreaterThan => ">",
            Comparison::GreaterOrEqual => ">=",
            Comparison::LessThan => "<",
            Comparison::LessOrEqual => "<=",
        }
    }
}

/// One alarm.
#[derive(Debug, Clone)]
pub struct AlarmRule {
    /// Its unique name.
    pub name: String,
    /// What it watches.
    pub metric: AlarmMetric,
    /// The threshold.
    pub threshold: f64,
    /// How datapoints are compared with it.
    pub comparison: Comparison,
    /// The period, in milliseconds.
    pub period_ms: Millis,
    /// How many recent periods are looked at.
    pub evaluation_periods: u32,
    /// How many of them must breach for `ALARM`.
    pub datapoints_to_alarm: u32,
    /// Webhook URLs told of changes into and out of `ALARM`.
    pub notify: Vec<String>,
    /// E-mail addresses told of the same changes.
    pub notify_email: Vec<String>,
}

/// What alarms read and write.
pub struct AlarmPorts {
    /// Datapoints, states and their history; the windows' figures.
    pub store: Arc<dyn Alarms>,
    /// The queue's depth.
    pub queue: Arc<dyn Queue>,
    /// Where notification webhooks are queued.
    pub jobs: Arc<dyn JobStore>,
}

/// One alarm as an administrator sees it.
#[derive(Debug, Clone)]
pub struct AlarmView {
    /// The rule.
    pub rule: AlarmRule,
    /// Its state (`INSUFFICIENT_DATA` before its first evaluation).
    pub state: String,
    /// Why.
    pub reason: String,
    /// Since when (`None` before its first evaluation).
    pub since: Option<Millis>,
    /// The recent datapoints, newest first: period end and value.
    pub datapoints: Vec<(Millis, Option<f64>)>,
}

/// The alarms of a deployment.
pub struct AlarmService {
    ports: AlarmPorts,
    rules: Vec<AlarmRule>,
    webhook_key: Arc<Vec<u8>>,
    webhook_attempts: u32,
    tally: Arc<HttpTally>,
    /// This process, in the HTTP counts.
    process: String,
}

/// How long HTTP counts are kept in the database.
const HTTP_COUNTS_KEPT_MS: Millis = 2 * 86_400_000;

/// `INSUFFICIENT_DATA`, the state of an alarm never evaluated.
const INSUFFICIENT: &str = "INSUFFICIENT_DATA";

impl AlarmService {
    /// Alarms over `ports`; notifications are signed with `webhook_key`'s derived secret
    /// for [`ALARM_OWNER`] and get `webhook_attempts` attempts.
    pub fn new(
        ports: AlarmPorts,
        rules: Vec<AlarmRule>,
        webhook_key: Arc<Vec<u8>>,
        webhook_attempts: u32,
    ) -> AlarmService {
        AlarmService {
            ports,
            rules,
            webhook_key,
            webhook_attempts,
            tally: Arc::default(),
            process: JobId::new().to_string(),
        }
    }

    /// The counter the API's middleware feeds.
    pub fn tally(&self) -> &Arc<HttpTally> {
        &self.tally
    }

    /// How often the rules are evaluated: often enough for the shortest period.
    pub fn tick(&self) -> Duration {
        let shortest = self
            .rules
            .iter()
            .map(|r| r.period_ms)
            .min()
            .unwrap_or(60_000);
        Duration::from_millis((shortest / 4).clamp(250, 15_000) as u64)
    }

    /// Writes this process's HTTP answers since the last flush into the database (only
    /// when a rule reads them).
    pub async fn flush_http(&self, now: Millis) -> Result<(), ServiceError> {
        if !self.rules.iter().any(|r| r.metric.is_http()) {
            return Ok(());
        }
        let counts = self.tally.take();
        if counts.total > 0 {
            let second = now - now.rem_euclid(1000);
            let stored = self
                .ports
                .store
                .add_http_counts(&self.process, second, counts)
                .await;
            if let Err(error) = stored {
                // Put them back for the next flush.
                self.tally.total.fetch_add(counts.total, Ordering::Relaxed);
                self.tally
                    .client
                    .fetch_add(counts.client, Ordering::Relaxed);
                self.tally
                    .server
                    .fetch_add(counts.server, Ordering::Relaxed);
                return Err(error.into());
            }
        }
        if now.rem_euclid(3_600_000) < self.tick().as_millis() as Millis {
            self.ports
                .store
                .prune_http_counts(now - HTTP_COUNTS_KEPT_MS)
                .await?;
        }
        Ok(())
    }

    /// The rules.
    pub fn rules(&self) -> &[AlarmRule] {
        &self.rules
    }

    /// Evaluates every rule for the periods that ended by `now`.
    pub async fn evaluate(&self, now: Millis) -> Result<(), ServiceError> {
        let states: HashMap<String, AlarmRecord> = self
            .ports
            .store
            .alarm_states()
            .await?
            .into_iter()
            .map(|s| (s.name.clone(), s))
            .collect();
        for rule in &self.rules {
            self.evaluate_rule(rule, states.get(&rule.name), now)
                .await?;
        }
        Ok(())
    }

    async fn evaluate_rule(
        &self,
        rule: &AlarmRule,
        current: Option<&AlarmRecord>,
        now: Millis,
    ) -> Result<(), ServiceError> {
        let store = &self.ports.store;
        // HTTP counts reach the database a tick late: their periods wait for it.
        let settled = if rule.metric.is_http() {
            now - self.tick().as_millis() as Millis - 1000
        } else {
            now
        };
        let end = settled - settled.rem_euclid(rule.period_ms);
        let start = end - rule.period_ms;
        if store.datapoints(&rule.name, start, end).await?.is_empty() {
            let value = self.measure(rule.metric, start, end, now).await?;
            store.put_datapoint(&rule.name, end, value).await?;
        }
        let window = rule.period_ms * i64::from(rule.evaluation_periods);
        let points = store.datapoints(&rule.name, end - window, end).await?;
        let (state, reason) = decide(rule, &points);
        let (from, version) = current.map_or((INSUFFICIENT, 0), |c| (c.state.as_str(), c.version));
        if state == from {
            return Ok(());
        }
        if !store
            .transition_alarm(&rule.name, version, state, &reason, now)
            .await?
        {
            return Ok(()); // another process moved it first, and notifies
        }
        tracing::warn!(alarm = %rule.name, from, to = state, %reason, "alarm changed state");
        metrics::counter!("easel_alarm_transitions_total", "alarm" => rule.name.clone(), "to" => state)
            .increment(1);
        if state == "ALARM" || from == "ALARM" {
            self.notify(rule, from, state, &reason, now).await;
        }
        Ok(())
    }

    /// The datapoint of `metric` for the period `[start, end)`.
    async fn measure(
        &self,
        metric: AlarmMetric,
        start: Millis,
        end: Millis,
        now: Millis,
    ) -> Result<Option<f64>, ServiceError> {
        let store = &self.ports.store;
        Ok(match metric {
            AlarmMetric::QueueDepth => Some(self.ports.queue.depth().await? as f64),
            AlarmMetric::OldestPendingSeconds => Some(
                store
                    .oldest_waiting()
                    .await?
                    .map_or(0.0, |at| (now - at).max(0) as f64 / 1000.0),
            ),
            AlarmMetric::Http5xxRatio | AlarmMetric::Http4xxRatio => {
                let counts = store.http_counts(start, end).await?;
                let part = if metric == AlarmMetric::Http5xxRatio {
                    counts.server
                } else {
                    counts.client
                };
                (counts.total > 0).then(|| part as f64 / counts.total as f64)
            }
            _ => {
                let stats = store.window_stats(start, end).await?;
                match metric {
                    AlarmMetric::DeadJobs => Some(stats.failed as f64),
                    AlarmMetric::Timeouts => Some(stats.timeouts as f64),
                    AlarmMetric::FailedJobRatio => {
                        let finished = stats.completed + stats.failed;
                        (finished > 0).then(|| stats.failed as f64 / finished as f64)
                    }
                    _ => percentile(stats.latencies_ms, 0.99),
                }
            }
        })
    }

    /// Queues one webhook per notify URL and one e-mail per address.
    async fn notify(&self, rule: &AlarmRule, from: &str, to: &str, reason: &str, at: Millis) {
        for address in &rule.notify_email {
            let (subject, text, html) = alarm_email(rule, from, to, reason, at);
            let spec = EmailSpec {
                to: address.clone(),
                subject,
                text,
                html: Some(html),
            };
            self.queue_job(JobKind::Email, serde_json::to_value(&spec), rule, at)
                .await;
        }
        for url in &rule.notify {
            let spec = WebhookSpec {
                target: None,
                url: url.clone(),
                event: "alarm.state-changed".to_owned(),
                payload: json!({
                    "alarm": rule.name,
                    "metric": rule.metric.as_str(),
                    "threshold": rule.threshold,
                    "comparison": rule.comparison.symbol(),
                    "from": from,
                    "to": to,
                    "reason": reason,
                    "at": rfc3339(at),
                }),
            };
            self.queue_job(JobKind::Webhook, serde_json::to_value(&spec), rule, at)
                .await;
        }
    }

    /// Queues a notification job; a failure is logged (the transition stands).
    async fn queue_job(
        &self,
        kind: JobKind,
        spec: serde_json::Result<serde_json::Value>,
        rule: &AlarmRule,
        at: Millis,
    ) {
        let new = NewJob {
            id: JobId::new(),
            owner: ALARM_OWNER.to_owned(),
            kind,
            spec: spec.expect("a notification spec is JSON"),
            image_count: 0,
            max_attempts: self.webhook_attempts,
            idempotency_key: None,
            request_hash: format!("alarm:{}:{at}", rule.name),
            expires_at: None,
        };
        if let Err(error) = self.ports.jobs.create(new).await {
            tracing::error!(%error, alarm = %rule.name, "could not queue the alarm notification");
        }
    }

    /// Every alarm with its state and recent datapoints, the latest transitions, and the
    /// secret notifications are signed with (administrators only).
    pub async fn overview(
        &self,
        caller: &Principal,
        now: Millis,
    ) -> Result<(Vec<AlarmView>, Vec<AlarmTransition>, String), ServiceError> {
        if !caller.admin {
            return Err(ServiceError::forbidden(
                "only administrators may read alarms",
            ));
        }
        let store = &self.ports.store;
        let states: HashMap<String, AlarmRecord> = store
            .alarm_states()
            .await?
            .into_iter()
            .map(|s| (s.name.clone(), s))
            .collect();
        let mut views = Vec::with_capacity(self.rules.len());
        for rule in &self.rules {
            let window = rule.period_ms * i64::from(rule.evaluation_periods.max(10));
            let datapoints = store.datapoints(&rule.name, now - window, now).await?;
            let state = states.get(&rule.name);
            views.push(AlarmView {
                rule: rule.clone(),
                state: state.map_or(INSUFFICIENT.to_owned(), |s| s.state.clone()),
                reason: state.map_or_else(|| "not evaluated yet".to_owned(), |s| s.reason.clone()),
                since: state.map(|s| s.since),
                datapoints,
            });
        }
        let history = store.alarm_history(None, 100).await?;
        Ok((views, history, owner_secret(&self.webhook_key, ALARM_OWNER)))
    }
}

/// The alarm e-mail: subject, plain text and HTML.
fn alarm_email(
    rule: &AlarmRule,
    from: &str,
    to: &str,
    reason: &str,
    at: Millis,
) -> (String, String, String) {
    let subject = format!("[Easel] {}: {to}", rule.name);
    let when = rfc3339(at);
    let text = format!(
        "The alarm \"{name}\" went from {from} to {to} at {when}.\n\n\
         Why: {reason}.\n\n\
         Rule: {metric} {op} {threshold}, {n} of {m} periods of {period} s.\n\
         See GET /v1/admin/alarms for its datapoints and history.\n",
        name = rule.name,
        metric = rule.metric.as_str(),
        op = rule.comparison.symbol(),
        threshold = rule.threshold,
        n = rule.datapoints_to_alarm,
        m = rule.evaluation_periods,
        period = rule.period_ms / 1000,
    );
    let html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\">\
         <h2>{name}: {to}</h2>\
         <p>The alarm <strong>{name}</strong> went from <strong>{from}</strong> to \
         <strong>{to}</strong> at {when}.</p><p>Why: {reason}.</p>\
         <p>Rule: <code>{metric} {op} {threshold}</code>, {n} of {m} periods of {period} s.</p>\
         </body></html>",
        name = html_escape(&rule.name),
        reason = html_escape(reason),
        metric = rule.metric.as_str(),
        op = html_escape(rule.comparison.symbol()),
        threshold = rule.threshold,
        n = rule.datapoints_to_alarm,
        m = rule.evaluation_periods,
        period = rule.period_ms / 1000,
    );
    (subject, text, html)
}

/// Text made safe inside HTML.
fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The state the datapoints call for, and why.
fn decide(rule: &AlarmRule, points: &[(Millis, Option<f64>)]) -> (&'static str, String) {
    let values: Vec<f64> = points.iter().filter_map(|(_, v)| *v).collect();
    let breaching = values
        .iter()
        .filter(|v| rule.comparison.breaches(**v, rule.threshold))
        .count() as u32;
    let m = rule.evaluation_periods;
    let op = rule.comparison.symbol();
    let latest = values.first().map_or("none".to_owned(), |v| format!("{v}"));
    if breaching >= rule.datapoints_to_alarm {
        let reason = format!(
            "{breaching} of the last {m} datapoints of {} {op} {} (latest {latest})",
            rule.metric.as_str(),
            rule.threshold
        );
        ("ALARM", reason)
    } else if values.is_empty() {
        let reason = format!(
            "no data for {} in the last {m} periods",
            rule.metric.as_str()
        );
        (INSUFFICIENT, reason)
    } else {
        let reason = format!(
            "{breaching} of the last {m} datapoints of {} {op} {}, fewer than {} (latest {latest})",
            rule.metric.as_str(),
            rule.threshold,
            rule.datapoints_to_alarm
        );
        ("OK", reason)
    }
}

/// The `p` quantile (nearest rank) of `values`; `None` when empty.
fn percentile(mut values: Vec<u64>, p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len());
    Some(values[rank - 1] as f64)
}

/// Evaluates the alarms every `every` until `shutdown`.
pub async fn run_alarms(alarms: Arc<AlarmService>, every: Duration, shutdown: CancellationToken) {
    if alarms.rules().is_empty() {
        return;
    }
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.cancelled() => return,
        }
        if let Err(error) = alarms.flush_http(now_millis()).await {
            tracing::warn!(%error, "could not record the HTTP counts; will retry");
        }
        if let Err(error) = alarms.evaluate(now_millis()).await {
            tracing::warn!(%error, "alarm evaluation failed; will retry");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(m: u32, n: u32) -> AlarmRule {
        AlarmRule {
            name: "r".into(),
            metric: AlarmMetric::DeadJobs,
            threshold: 0.0,
            comparison: Comparison::GreaterThan,
            period_ms: 1000,
            evaluation_periods: m,
            datapoints_to_alarm: n,
            notify: Vec::new(),
            notify_email: Vec::new(),
        }
    }

    #[test]
    fn n_of_m_breaching_datapoints_alarm_and_no_data_is_insufficient() {
        let points = |v: &[Option<f64>]| -> Vec<(Millis, Option<f64>)> {
            v.iter()
                .enumerate()
                .map(|(i, v)| (i as Millis, *v))
                .collect()
        };
        assert_eq!(
            decide(&rule(3, 2), &points(&[Some(1.0), Some(0.0), Some(2.0)])).0,
            "ALARM"
        );
        assert_eq!(
            decide(&rule(3, 2), &points(&[Some(1.0), Some(0.0), None])).0,
            "OK"
        );
        assert_eq!(decide(&rule(3, 1), &points(&[None, None])).0, INSUFFICIENT);
        assert_eq!(decide(&rule(1, 1), &points(&[])).0, INSUFFICIENT);
        assert_eq!(decide(&rule(1, 1), &points(&[Some(0.0)])).0, "OK");
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        assert_eq!(percentile(vec![], 0.99), None);
        assert_eq!(percentile(vec![5], 0.99), Some(5.0));
        assert_eq!(percentile((1..=100).collect(), 0.99), Some(99.0));
        assert_eq!(percentile((1..=10).rev().collect(), 0.5), Some(5.0));
    }
}
