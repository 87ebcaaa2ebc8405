//! Webhooks: when a job with a `callbackUrl` ends, a `webhook` job is queued; running it
//! POSTs the event to the URL, signed the Standard Webhooks way with the owner's secret,
//! and records the attempt in the delivery log. A non-2xx answer or no answer is a
//! retryable failure, so the queue's backoff and attempts apply (and a webhook that
//! never got through is a dead job an administrator can redrive). Each delivery first
//! resolves the host and connects only to addresses the policy allows (SSRF).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use easel_core::{
    ImageResult, JobStatus, WebhookPolicy, WebhookSpec, now_millis, owner_secret, rfc3339,
    signature,
};
use easel_store::{Claim, Deliveries, Delivery, Job, Jobs, announcement};
use serde_json::json;

use crate::WorkerDeps;
use crate::execute::JobFailure;

/// How webhooks are sent.
pub struct WebhookSettings {
    /// The deployment's key each owner's signing secret is derived from.
    pub key: Arc<Vec<u8>>,
    /// Which addresses deliveries may connect to.
    pub policy: WebhookPolicy,
    /// Attempts per delivery before it is dead.
    pub max_attempts: u32,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// Where webhook jobs are created.
    pub jobs: Arc<dyn Jobs>,
    /// The delivery log.
    pub deliveries: Arc<dyn Deliveries>,
}

/// Queues the webhook of `job`, which just ended as `status`, if it asked for one. A
/// failure to queue is logged: the job's own outcome is already recorded.
pub(crate) async fn announce(
    deps: &WorkerDeps,
    job: &Job,
    status: JobStatus,
    results: &[ImageResult],
    error: Option<(&str, &str)>,
    attempt_token: &str,
) {
    let Some(settings) = &deps.webhooks else {
        return;
    };
    let Some(new) = announcement(
        job,
        status,
        results,
        error,
        attempt_token,
        settings.max_attempts,
    ) else {
        return;
    };
    if let Err(error) = settings.jobs.create(new).await {
        metrics::counter!("easel_worker_errors_total", "stage" => "webhook").increment(1);
        tracing::error!(%error, job_id = %job.id, "could not queue the job's webhook");
    }
}

/// Runs a claimed `webhook` job: one delivery attempt.
pub(crate) async fn deliver(
    claim: &Claim,
    deps: &WorkerDeps,
) -> Result<Vec<ImageResult>, JobFailure> {
    let spec: WebhookSpec = serde_json::from_value(claim.job.spec.clone())
        .map_err(|e| JobFailure::permanent(format!("the stored webhook is unreadable: {e}")))?;
    let Some(settings) = &deps.webhooks else {
        return Err(JobFailure::transient(
            "this worker has no webhook key; another will deliver it".to_owned(),
        ));
    };
    let started = Instant::now();
    let attempt = send(claim, &spec, settings).await;
    if let Some(target) = spec.target {
        let delivery = Delivery {
            target,
            delivery: claim.job.id,
            attempt: claim.lease.attempt,
            at: now_millis(),
            url: spec.url.clone(),
            status: attempt.status,
            error: attempt.error.clone(),
            duration_ms: started.elapsed().as_millis() as u64,
        };
        if let Err(error) = settings.deliveries.record_delivery(&delivery).await {
            tracing::warn!(%error, "could not record the webhook delivery");
        }
    }
    metrics::counter!("easel_webhook_deliveries_total",
        "outcome" => if attempt.error.is_none() { "delivered" } else { "failed" })
    .increment(1);
    match attempt.error {
        None => Ok(Vec::new()),
        Some(message) => Err(JobFailure {
            code: if attempt.refused {
                "webhook-refused".to_owned()
            } else {
                "webhook-failed".to_owned()
            },
            message,
            // A refused address stays refused.
            retryable: !attempt.refused,
            results: Vec::new(),
        }),
    }
}

/// What one attempt got.
struct Attempt {
    status: Option<u16>,
    error: Option<String>,
    /// The policy refused every address the host resolves to.
    refused: bool,
}

async fn send(claim: &Claim, spec: &WebhookSpec, settings: &WebhookSettings) -> Attempt {
    let failed = |error: String| Attempt {
        status: None,
        error: Some(error),
        refused: false,
    };
    let url = match settings.policy.check_url(&spec.url) {
        Ok(url) => url,
        Err(reason) => {
            return Attempt {
                status: None,
                error: Some(reason),
                refused: true,
            };
        }
    };
    let host = url.host_str().unwrap_or_default().to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    // Resolve here and pin the connection to the allowed addresses, so a name cannot
    // point somewhere else between the check and the connection (DNS rebinding).
    let lookup = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let resolved: Vec<SocketAddr> = match tokio::net::lookup_host((lookup.as_str(), port)).await {
        Ok(addrs) => addrs.collect(),
        Err(e) => return failed(format!("cannot resolve {host}: {e}")),
    };
    let allowed: Vec<SocketAddr> = resolved
        .iter()
        .copied()
        .filter(|a| settings.policy.allows(a.ip()))
        .collect();
    if allowed.is_empty() {
        return Attempt {
            status: None,
            error: Some(format!(
                "{host} resolves only to private, loopback or link-local addresses, which \
                 this deployment does not call"
            )),
            refused: true,
        };
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = match reqwest::Client::builder()
        .user_agent(concat!("easel-webhooks/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.timeout)
        .resolve_to_addrs(&host, &allowed)
        .build()
    {
        Ok(client) => client,
        Err(e) => return failed(format!("cannot build the HTTP client: {e}")),
    };
    let body = json!({
        "type": spec.event,
        "timestamp": rfc3339(now_millis()),
        "data": spec.payload,
    })
    .to_string();
    let id = claim.job.id.to_string();
    let timestamp = now_millis() / 1000;
    let secret = owner_secret(&settings.key, &claim.job.owner);
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header(
            "webhook-signature",
            signature(&secret, &id, timestamp, body.as_bytes()),
        )
        .body(body)
        .send()
        .await;
    match response {
        Ok(response) if response.status().is_success() => Attempt {
            status: Some(response.status().as_u16()),
            error: None,
            refused: false,
        },
        Ok(response) => Attempt {
            status: Some(response.status().as_u16()),
            error: Some(format!("the receiver answered {}", response.status())),
            refused: false,
        },
        Err(e) => failed(format!("the receiver could not be reached: {e}")),
    }
}
