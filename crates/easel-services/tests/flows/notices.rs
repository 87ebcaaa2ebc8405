//! The notifications sweep at chosen times: the weekly summary counts the week before
//! and goes out once, a quiet week sends nothing, and a reminder about a generation that
//! was deleted meanwhile is dropped without mail.

use easel_core::{EmailSpec, JobId, JobKind, now_millis};
use easel_services::notices::Swept;
use easel_store::{JobFilter, Jobs, NewJob, Notifications, Reminder, Reminders, Users};

use crate::support::{Setup, World};

const DAY: i64 = 86_400_000;

fn job(owner: &str, kind: JobKind, images: u32) -> NewJob {
    NewJob {
        id: JobId::new(),
        owner: owner.to_owned(),
        kind,
        spec: serde_json::json!({ "prompt": "a lighthouse" }),
        image_count: images,
        max_attempts: 1,
        idempotency_key: None,
        request_hash: "h".into(),
        expires_at: None,
    }
}

/// The e-mails queued for `owner`.
async fn mails(world: &World) -> Vec<EmailSpec> {
    let filter = JobFilter {
        owner: Some(world.user.id.clone()),
        kind: Some(JobKind::Email),
        limit: 100,
        ..JobFilter::default()
    };
    let jobs = world.store.list(&filter).await.unwrap();
    jobs.into_iter()
        .map(|j| serde_json::from_value(j.spec).unwrap())
        .collect()
}

/// A world with e-mail whose user chose `notifications`.
async fn opted_in(notifications: Notifications) -> World {
    let world = World::new(Setup {
        email: true,
        ..Setup::default()
    })
    .await;
    world
        .store
        .set_notifications(&world.user.id, notifications, now_millis())
        .await
        .unwrap();
    world
}

#[tokio::test]
async fn the_weekly_summary_counts_last_week_once() {
    let world = opted_in(Notifications {
        weekly_summary: true,
        ..Notifications::default()
    })
    .await;
    let owner = world.user.id.clone();
    world
        .store
        .create(job(&owner, JobKind::Generate, 2))
        .await
        .unwrap();
    world
        .store
        .create(job(&owner, JobKind::Process, 3))
        .await
        .unwrap();
    world
        .store
        .create(job(&owner, JobKind::Process, 1))
        .await
        .unwrap();
    // Someone else's work is not in it.
    world
        .store
        .create(job("someone-else", JobKind::Process, 9))
        .await
        .unwrap();

    let notices = &world.services.notices;
    // This week's work is summed up next week.
    let next_week = now_millis() + 7 * DAY;
    assert_eq!(
        notices.sweep(next_week).await.unwrap(),
        Swept {
            reminders: 0,
            summaries: 1
        }
    );
    let sent = mails(&world).await;
    assert_eq!(sent.len(), 1);
    let summary = &sent[0];
    assert_eq!(summary.to, "user@example.test");
    assert_eq!(summary.subject, "Your week with Easel");
    // Nothing ran: every job is still pending, so none completed or failed.
    assert!(
        summary
            .text
            .contains("Generations: 1 submitted, 0 completed (0 images), 0 failed."),
        "{}",
        summary.text
    );
    assert!(
        summary
            .text
            .contains("Processing jobs: 2 submitted, 0 completed (0 images), 0 failed."),
        "{}",
        summary.text
    );
    // Once: a second sweep (or a second process) sends nothing more.
    assert_eq!(
        notices.sweep(next_week + 60_000).await.unwrap(),
        Swept::default()
    );
    // The week after was quiet: no mail.
    assert_eq!(
        notices.sweep(next_week + 7 * DAY).await.unwrap(),
        Swept::default()
    );
    assert_eq!(mails(&world).await.len(), 1);
}

#[tokio::test]
async fn a_reminder_for_a_deleted_generation_is_dropped() {
    let world = opted_in(Notifications {
        link_expiry: true,
        ..Notifications::default()
    })
    .await;
    let mut deleted = job(&world.user.id, JobKind::Generate, 1);
    // Its retention is over (a history delete expires an entry at once).
    deleted.expires_at = Some(now_millis() - 1);
    let deleted = world.store.create(deleted).await.unwrap().job;
    let kept = world
        .store
        .create(job(&world.user.id, JobKind::Generate, 1))
        .await
        .unwrap()
        .job;
    for id in [deleted.id, kept.id] {
        world
            .store
            .schedule_reminder(&Reminder {
                job: id,
                owner: world.user.id.clone(),
                due_at: now_millis(),
            })
            .await
            .unwrap();
    }
    let swept = world
        .services
        .notices
        .sweep(now_millis() + 1)
        .await
        .unwrap();
    assert_eq!(swept.reminders, 1);
    let sent = mails(&world).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].subject, "Your Easel image link expires soon");
    assert!(sent[0].text.contains("a lighthouse"), "{}", sent[0].text);
    // Both are gone: nothing is due any more.
    assert!(
        world
            .store
            .due_reminders(now_millis() + DAY, 10)
            .await
            .unwrap()
            .is_empty()
    );
}
