//! Notifications account holders opt into (`/v1/me/notifications`), sent as e-mail
//! through the queue: a job or generation finished, the 24-hour link to a generated
//! image is about to expire, and each Monday a summary of the week before. Only to
//! addresses that were proved (or every address, when verification is off), never to
//! accounts without an e-mail address. Every e-mail carries an idempotency key, so two
//! processes sweeping at once, or a retried sweep, send it once.

use std::sync::Arc;
use std::time::Duration;

use easel_core::{JobKind, JobStatus, Millis, QuotaPeriod, now_millis, rfc3339};
use easel_store::{Activity, IdentityStore, Job, Jobs as JobStore, Reminder, Reminders, User};
use tokio_util::sync::CancellationToken;

use crate::error::ServiceError;
use crate::mail::{Letter, Mailer};
use crate::usage::windows::window_bounds;

/// The life of the long link Easel hands out for a generated image (seed 003's
/// `short_url_24h`).
pub const LONG_LINK_MS: Millis = 86_400_000;

/// Accounts or reminders handled per store round trip in a sweep.
const BATCH: u32 = 100;

/// The stores notifications read.
pub struct NoticePorts {
    /// Accounts and their choices.
    pub users: Arc<dyn IdentityStore>,
    /// Jobs (a reminder's generation; a week's activity).
    pub jobs: Arc<dyn JobStore>,
    /// Link-expiry reminders waiting.
    pub reminders: Arc<dyn Reminders>,
}

/// How notifications are sent.
#[derive(Debug, Clone, Copy)]
pub struct NoticeSettings {
    /// How long before the 24-hour link expires its reminder goes out.
    pub link_expiry_lead_ms: Millis,
    /// Whether only proved addresses get mail (verification is on).
    pub verified_only: bool,
}

/// The notifications flows; inert without an `[email]` server.
pub struct Notices {
    ports: NoticePorts,
    mailer: Option<Mailer>,
    settings: NoticeSettings,
}

/// What one sweep sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Link-expiry reminders.
    pub reminders: u64,
    /// Weekly summaries.
    pub summaries: u64,
}

impl Notices {
    /// Notifications over `ports`, mailed by `mailer` (`None`: e-mail is off).
    pub fn new(ports: NoticePorts, mailer: Option<Mailer>, settings: NoticeSettings) -> Notices {
        Notices {
            ports,
            mailer,
            settings,
        }
    }

    /// Whether `user` may be mailed: enabled, with an address, proved when that is asked.
    fn reachable(&self, user: &User) -> bool {
        !user.disabled
            && user.username.contains('@')
            && (!self.settings.verified_only || user.email_verified_at.is_some())
    }

    /// Told when `job` ended for good as `status` (after the outcome is recorded;
    /// `attempt` tells endings apart): mails its owner if they asked, and schedules the
    /// link reminder of a completed generation.
    pub async fn job_ended(
        &self,
        job: &Job,
        status: JobStatus,
        attempt: &str,
    ) -> Result<(), ServiceError> {
        let Some(mailer) = &self.mailer else {
            return Ok(());
        };
        if !matches!(job.kind, JobKind::Process | JobKind::Generate) {
            return Ok(());
        }
        let Some(user) = self.ports.users.user_by_id(&job.owner).await? else {
            return Ok(());
        };
        if !self.reachable(&user) {
            return Ok(());
        }
        let now = now_millis();
        if user.notifications.link_expiry
            && job.kind == JobKind::Generate
            && status == JobStatus::Completed
        {
            let reminder = Reminder {
                job: job.id,
                owner: job.owner.clone(),
                due_at: now + LONG_LINK_MS - self.settings.link_expiry_lead_ms,
            };
            self.ports.reminders.schedule_reminder(&reminder).await?;
        }
        if !user.notifications.job_finished {
            return Ok(());
        }
        let letter = finished_letter(job, status, mailer);
        mailer
            .send(
                &user.id,
                &user.username,
                &letter,
                Some(format!("job-finished:{}:{attempt}", job.id)),
            )
            .await?;
        Ok(())
    }

    /// Sends what is due at `now`: link reminders, and the summaries of last week.
    pub async fn sweep(&self, now: Millis) -> Result<Swept, ServiceError> {
        if self.mailer.is_none() {
            return Ok(Swept::default());
        }
        Ok(Swept {
            reminders: self.send_reminders(now).await?,
            summaries: self.send_summaries(now).await?,
        })
    }

    async fn send_reminders(&self, now: Millis) -> Result<u64, ServiceError> {
        let Some(mailer) = &self.mailer else {
            return Ok(0);
        };
        let mut sent = 0;
        loop {
            let due = self.ports.reminders.due_reminders(now, BATCH).await?;
            if due.is_empty() {
                return Ok(sent);
            }
            for reminder in due {
                if self.remind(mailer, &reminder, now).await? {
                    sent += 1;
                }
                // Sent, or moot (opted out, deleted, expired): either way done.
                self.ports.reminders.drop_reminder(reminder.job).await?;
            }
        }
    }

    /// Mails one reminder if it still applies; whether this call sent it.
    async fn remind(
        &self,
        mailer: &Mailer,
        reminder: &Reminder,
        now: Millis,
    ) -> Result<bool, ServiceError> {
        let Some(user) = self.ports.users.user_by_id(&reminder.owner).await? else {
            return Ok(false);
        };
        if !self.reachable(&user) || !user.notifications.link_expiry {
            return Ok(false);
        }
        let Some(job) = self.ports.jobs.get(reminder.job).await? else {
            return Ok(false);
        };
        // Deleted from the history, or past its retention: there is nothing to link.
        if job.expires_at.is_some_and(|at| at <= now) {
            return Ok(false);
        }
        let expires = reminder.due_at + self.settings.link_expiry_lead_ms;
        let prompt = job
            .spec
            .get("prompt")
            .and_then(|p| p.as_str())
            .map(|p| format!(" (\u{201c}{}\u{201d})", shorten(p, 80)))
            .unwrap_or_default();
        let letter = Letter {
            subject: "Your Easel image link expires soon".to_owned(),
            lead: vec![format!(
                "The 24-hour link to the image you generated on {}{prompt} expires at {}.",
                rfc3339(job.created_at),
                rfc3339(expires)
            )],
            code: None,
            link: Some((
                "Open your history for a new link".to_owned(),
                mailer.ui_link("#/history", &[]),
            )),
            tail: vec![unsubscribe_line()],
        };
        mailer
            .send(
                &user.id,
                &user.username,
                &letter,
                Some(format!("link-expiry:{}", job.id)),
            )
            .await
    }

    async fn send_summaries(&self, now: Millis) -> Result<u64, ServiceError> {
        let Some(mailer) = &self.mailer else {
            return Ok(0);
        };
        let (week_start, _) = window_bounds(QuotaPeriod::Week, now);
        let last_week = week_start - 7 * 86_400_000;
        let mut sent = 0;
        loop {
            let due = self
                .ports
                .users
                .weekly_summaries_due(week_start, BATCH)
                .await?;
            if due.is_empty() {
                return Ok(sent);
            }
            for user in due {
                if !self.reachable(&user) {
                    self.ports
                        .users
                        .mark_weekly_summary(&user.id, week_start)
                        .await?;
                    continue;
                }
                let activity = self
                    .ports
                    .jobs
                    .activity(&user.id, last_week, week_start)
                    .await?;
                // A quiet week gets no mail.
                if !activity.is_empty() {
                    let letter = summary_letter(&activity, last_week, week_start, mailer);
                    let once = Some(format!("weekly-summary:{week_start}"));
                    if mailer.send(&user.id, &user.username, &letter, once).await? {
                        sent += 1;
                    }
                }
                self.ports
                    .users
                    .mark_weekly_summary(&user.id, week_start)
                    .await?;
            }
        }
    }
}

fn unsubscribe_line() -> String {
    "You get this e-mail because you asked for it in Easel's account settings; turn it off \
     there."
        .to_owned()
}

fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// The mail telling that `job` ended as `status`.
fn finished_letter(job: &Job, status: JobStatus, mailer: &Mailer) -> Letter {
    let (what, route) = match job.kind {
        JobKind::Generate => ("generation", "#/history"),
        _ => ("processing job", "#/dashboard"),
    };
    let outcome = match status {
        JobStatus::Completed => "completed",
        _ => "failed",
    };
    let mut lead = vec![format!(
        "Your {what} {} {outcome} ({} image{}).",
        job.id,
        job.image_count,
        if job.image_count == 1 { "" } else { "s" }
    )];
    if status != JobStatus::Completed
        && let Some(error) = &job.error
    {
        lead.push(format!("What went wrong: {error}"));
    }
    Letter {
        subject: format!("Your Easel {what} {outcome}"),
        lead,
        code: None,
        link: Some(("Open Easel".to_owned(), mailer.ui_link(route, &[]))),
        tail: vec![unsubscribe_line()],
    }
}

/// The mail summing up `activity`, the week from `from` to `to`.
fn summary_letter(activity: &[Activity], from: Millis, to: Millis, mailer: &Mailer) -> Letter {
    let mut lead = vec![format!(
        "What you did with Easel in the week from {} to {}:",
        &rfc3339(from)[..10],
        &rfc3339(to - 1)[..10]
    )];
    for kind in [JobKind::Generate, JobKind::Process] {
        let of_kind: Vec<&Activity> = activity.iter().filter(|a| a.kind == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        let count = |status: JobStatus| {
            of_kind
                .iter()
                .filter(|a| a.status == status)
                .map(|a| (a.jobs, a.images))
                .fold((0, 0), |(j, i), (a, b)| (j + a, i + b))
        };
        let jobs: u64 = of_kind.iter().map(|a| a.jobs).sum();
        let (completed, images) = count(JobStatus::Completed);
        let (failed, _) = count(JobStatus::Failed);
        let name = match kind {
            JobKind::Generate => "Generations",
            _ => "Processing jobs",
        };
        lead.push(format!(
            "{name}: {jobs} submitted, {completed} completed ({images} image{}), {failed} failed.",
            if images == 1 { "" } else { "s" }
        ));
    }
    Letter {
        subject: "Your week with Easel".to_owned(),
        lead,
        code: None,
        link: Some(("Open Easel".to_owned(), mailer.ui_link("#/dashboard", &[]))),
        tail: vec![unsubscribe_line()],
    }
}

/// Until `shutdown`, every `every`: sends the reminders and summaries that are due. Every
/// process sweeps; the idempotency keys keep each e-mail single.
pub async fn run_notices(notices: Arc<Notices>, every: Duration, shutdown: CancellationToken) {
    if notices.mailer.is_none() {
        return;
    }
    loop {
        match notices.sweep(now_millis()).await {
            Ok(swept) if swept != Swept::default() => {
                tracing::info!(
                    reminders = swept.reminders,
                    summaries = swept.summaries,
                    "notifications sent"
                )
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "the notification sweep failed; will retry"),
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.cancelled() => return,
        }
    }
}
