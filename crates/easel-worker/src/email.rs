//! Sending an `email` job over SMTP (`lettre`): plain text, with an HTML alternative
//! when the job has one. The mail server's temporary refusals (4xx) and a server that
//! cannot be reached are retryable failures, so the queue's backoff applies and an
//! outage delays mail without losing it; a permanent refusal (5xx) fails the job at once
//! (`email-rejected`, redrivable by an administrator).

use easel_core::{EmailSpec, ImageResult};
use easel_store::Claim;
use lettre::message::{Mailbox, MultiPart, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::WorkerDeps;
use crate::execute::JobFailure;

/// How e-mail is sent.
pub struct EmailSettings {
    /// The SMTP connection (`smtp://`, STARTTLS when offered… as configured).
    pub transport: AsyncSmtpTransport<Tokio1Executor>,
    /// The sender.
    pub from: Mailbox,
}

/// Runs a claimed `email` job.
pub(crate) async fn send(claim: &Claim, deps: &WorkerDeps) -> Result<Vec<ImageResult>, JobFailure> {
    let spec: EmailSpec = serde_json::from_value(claim.job.spec.clone())
        .map_err(|e| JobFailure::permanent(format!("the stored e-mail is unreadable: {e}")))?;
    let Some(settings) = &deps.email else {
        return Err(JobFailure::transient(
            "this worker has no [email] configuration; another will send it".to_owned(),
        ));
    };
    let to: Mailbox = spec.to.parse().map_err(|e| {
        JobFailure::permanent(format!("`{}` is not an e-mail address: {e}", spec.to))
    })?;
    let builder = Message::builder()
        .from(settings.from.clone())
        .to(to)
        .subject(spec.subject.clone());
    let message = match spec.html {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(spec.text, html)),
        None => builder.header(ContentType::TEXT_PLAIN).body(spec.text),
    }
    .map_err(|e| JobFailure::permanent(format!("the e-mail cannot be built: {e}")))?;
    match settings.transport.send(message).await {
        Ok(_) => {
            metrics::counter!("easel_emails_total", "outcome" => "sent").increment(1);
            Ok(Vec::new())
        }
        Err(error) => {
            metrics::counter!("easel_emails_total", "outcome" => "failed").increment(1);
            let permanent = error.is_permanent();
            Err(JobFailure {
                code: if permanent {
                    "email-rejected"
                } else {
                    "email-failed"
                }
                .to_owned(),
                message: format!("the mail server did not take the e-mail: {error}"),
                retryable: !permanent,
                results: Vec::new(),
            })
        }
    }
}
