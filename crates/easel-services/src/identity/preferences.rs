//! What a local account holder sees and chooses about their account's e-mail: the
//! address's status and the notifications they opt into.

use easel_core::{Principal, now_millis};
use easel_store::Notifications;

use super::Identity;
use super::verification::EmailStatus;
use crate::audit::{Actor, RequestContext};
use crate::error::ServiceError;

/// A local account's e-mail settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettings {
    /// The address's status.
    pub email: EmailStatus,
    /// The notifications chosen.
    pub notifications: Notifications,
    /// Whether this deployment sends e-mail at all.
    pub email_enabled: bool,
}

impl Identity {
    /// The e-mail settings of `caller`, or `None` for principals without a local account
    /// (external issuers, no-auth).
    pub async fn mail_settings(
        &self,
        caller: &Principal,
    ) -> Result<Option<MailSettings>, ServiceError> {
        let Some(user) = self.store.user_by_id(&caller.id).await? else {
            return Ok(None);
        };
        Ok(Some(MailSettings {
            email: self.email_status(&user),
            notifications: user.notifications,
            email_enabled: self.mailer.is_some(),
        }))
    }

    /// Replaces `caller`'s notification choices. Opting in needs e-mail to be configured
    /// (`email-not-configured`).
    pub async fn set_notifications(
        &self,
        context: &RequestContext,
        caller: &Principal,
        notifications: Notifications,
    ) -> Result<MailSettings, ServiceError> {
        let user = self.local_account(&caller.id).await?;
        if notifications != Notifications::default() {
            self.mailer("e-mail notification")?;
        }
        self.store
            .set_notifications(&user.id, notifications, now_millis())
            .await?;
        let detail = format!(
            "job finished {}, link expiry {}, weekly summary {}",
            on_off(notifications.job_finished),
            on_off(notifications.link_expiry),
            on_off(notifications.weekly_summary)
        );
        self.audit
            .record(
                context,
                "notifications-changed",
                Actor {
                    principal: Some(&user.id),
                    username: Some(&user.username),
                },
                Some(detail),
            )
            .await;
        Ok(MailSettings {
            email: self.email_status(&user),
            notifications,
            email_enabled: self.mailer.is_some(),
        })
    }
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}
