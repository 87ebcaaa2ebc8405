//! Account e-mail over HTTP: the sign-up challenge, address verification and change, and
//! the notifications a holder opts into (the identity service's flows).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use easel_services::identity::challenge::Challenge;
use easel_services::identity::{EmailStatus, MailSettings};
use easel_store::Notifications;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Authenticated, RequestMeta};
use crate::error::ErrorBody;
use crate::extract::JsonBody;
use crate::routes::{Access, Routes};
use crate::{ApiError, AppState};

pub fn routes() -> Routes {
    Routes::new()
        .add(
            "/v1/auth/challenge",
            Access::Public,
            &["GET"],
            get(challenge),
        )
        .add(
            "/v1/auth/verify-email",
            Access::Public,
            &["POST"],
            post(verify_email),
        )
        .add(
            "/v1/auth/resend-verification",
            Access::Public,
            &["POST"],
            post(resend_verification),
        )
        .add(
            "/v1/me/email",
            Access::Authenticated,
            &["POST"],
            post(change_email),
        )
        .add(
            "/v1/me/email/verify",
            Access::Authenticated,
            &["POST"],
            post(confirm_email),
        )
        .add(
            "/v1/me/notifications",
            Access::Authenticated,
            &["GET", "PUT"],
            get(notifications).put(set_notifications),
        )
}

/// A proof-of-work challenge in ALTCHA's format.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ChallengeView {
    /// Always `SHA-256`.
    #[schema(value_type = String, example = "SHA-256")]
    algorithm: &'static str,
    /// Hex SHA-256 of `salt` followed by the secret number in decimal.
    challenge: String,
    /// The secret number is between 0 and this.
    #[serde(rename = "maxnumber")]
    max_number: u64,
    /// Random hex, then `?expires=` and the Unix time (seconds) the challenge expires.
    salt: String,
    /// Hex HMAC of `challenge`: proves Easel issued it.
    signature: String,
    /// Whether sign-ups here need a solution (`[auth.challenge] enabled`).
    required: bool,
}

impl From<Challenge> for ChallengeView {
    fn from(c: Challenge) -> Self {
        ChallengeView {
            algorithm: c.algorithm,
            challenge: c.challenge,
            max_number: c.max_number,
            salt: c.salt,
            signature: c.signature,
            required: c.required,
        }
    }
}

/// A new sign-up challenge: find the number `n` ≤ `maxnumber` with
/// `hex(SHA-256(salt ‖ n)) == challenge`, then send base64 of
/// `{"algorithm","challenge","number","salt","signature"}` as the sign-up's `altcha`
/// (ALTCHA's widget does exactly this). Each solution signs up one account.
#[utoipa::path(get, path = "/v1/auth/challenge", tag = "identity",
    responses((status = 200, description = "A challenge", body = ChallengeView)))]
async fn challenge(State(state): State<AppState>) -> Json<ChallengeView> {
    Json(state.services.identity.new_challenge().into())
}

/// An address and the code e-mailed to it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct VerifyEmail {
    /// The account's e-mail address.
    #[schema(schema_with = crate::openapi::email_schema)]
    email: String,
    /// The six-digit code from the e-mail.
    #[schema(min_length = 1, max_length = 20)]
    code: String,
}

/// Proves the address of an account with the code e-mailed at sign-up (or by
/// `/v1/auth/resend-verification`). Entering it again once verified is no error.
#[utoipa::path(post, path = "/v1/auth/verify-email", tag = "identity", request_body = VerifyEmail,
    responses(
        (status = 204, description = "The address is verified"),
        (status = 400, description = "`invalid-email` or `email-not-configured`", body = ErrorBody),
        (status = 403, description = "`invalid-code`: wrong, used or expired; also for an address without an account", body = ErrorBody),
    ))]
async fn verify_email(
    State(state): State<AppState>,
    meta: RequestMeta,
    JsonBody(body): JsonBody<VerifyEmail>,
) -> Result<StatusCode, ApiError> {
    let identity = &state.services.identity;
    identity
        .verify_email(&meta.0, &body.email, &body.code)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An address to send a new verification code to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ResendVerification {
    /// The account's e-mail address.
    #[schema(schema_with = crate::openapi::email_schema)]
    email: String,
}

/// The same answer whether the address has an unverified account or not.
#[derive(Debug, Serialize, ToSchema)]
struct CodeAccepted {
    /// What happens next.
    message: &'static str,
}

/// E-mails a new verification code (valid a day, once; at most three an hour) if the
/// address has an unverified account; the answer is the same either way.
#[utoipa::path(post, path = "/v1/auth/resend-verification", tag = "identity", request_body = ResendVerification,
    responses(
        (status = 202, description = "If the address has an unverified account, a code is on its way", body = CodeAccepted),
        (status = 400, description = "`invalid-email`, or `email-not-configured`", body = ErrorBody),
    ))]
async fn resend_verification(
    State(state): State<AppState>,
    meta: RequestMeta,
    JsonBody(body): JsonBody<ResendVerification>,
) -> Result<(StatusCode, Json<CodeAccepted>), ApiError> {
    let identity = &state.services.identity;
    identity.resend_verification(&meta.0, &body.email).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(CodeAccepted {
            message: "If that address has an unverified account, a code is on its way.",
        }),
    ))
}

/// A new address for the caller's account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ChangeEmail {
    /// The address to change to.
    #[schema(schema_with = crate::openapi::email_schema)]
    new_email: String,
    /// The account's current password.
    password: String,
}

/// The address waiting to be proved.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct EmailChangeStarted {
    /// Where the code went.
    pending_email: String,
}

/// Starts a change of the caller's address: a code goes to the new address, and the
/// account keeps its address until the code comes back (`/v1/me/email/verify`).
#[utoipa::path(post, path = "/v1/me/email", tag = "identity", request_body = ChangeEmail,
    responses(
        (status = 202, description = "A code is on its way to the new address", body = EmailChangeStarted),
        (status = 400, description = "`invalid-email`, `same-email`, `not-a-local-account` or `email-not-configured`", body = ErrorBody),
        (status = 403, description = "`forbidden`: the password is wrong", body = ErrorBody),
        (status = 409, description = "`username-exists`: another account has that address", body = ErrorBody),
        (status = 429, description = "`too-many-codes`: three were sent this hour", body = ErrorBody),
    ))]
async fn change_email(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    meta: RequestMeta,
    JsonBody(body): JsonBody<ChangeEmail>,
) -> Result<(StatusCode, Json<EmailChangeStarted>), ApiError> {
    let identity = &state.services.identity;
    let pending_email = identity
        .request_email_change(&meta.0, &caller.principal, &body.new_email, body.password)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(EmailChangeStarted { pending_email }),
    ))
}

/// The code sent to the new address.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ConfirmEmail {
    /// The six-digit code from the e-mail.
    #[schema(min_length = 1, max_length = 20)]
    code: String,
}

/// The account's address after the change.
#[derive(Debug, Serialize, ToSchema)]
struct EmailChanged {
    /// The new sign-in name and address.
    username: String,
}

/// Makes the pending address the account's sign-in name and address, with the code sent
/// to it. Tokens issued before keep working until they expire.
#[utoipa::path(post, path = "/v1/me/email/verify", tag = "identity", request_body = ConfirmEmail,
    responses(
        (status = 200, description = "The address is changed", body = EmailChanged),
        (status = 400, description = "`not-a-local-account` or `email-not-configured`", body = ErrorBody),
        (status = 403, description = "`invalid-code`: wrong, used or expired", body = ErrorBody),
        (status = 409, description = "`no-pending-email`: no change of address was asked for", body = ErrorBody),
        (status = 409, description = "`username-exists`: another account took the address meanwhile", body = ErrorBody),
    ))]
async fn confirm_email(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    meta: RequestMeta,
    JsonBody(body): JsonBody<ConfirmEmail>,
) -> Result<Json<EmailChanged>, ApiError> {
    let identity = &state.services.identity;
    let username = identity
        .confirm_email_change(&meta.0, &caller.principal, &body.code)
        .await?;
    Ok(Json(EmailChanged { username }))
}

/// The e-mails an account holder asked for; each is off until they opt in.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct NotificationsView {
    /// A job or generation finished (completed, or failed for good).
    job_finished: bool,
    /// The 24-hour link to a generated image expires soon (`[email]
    /// link_expiry_lead_secs` before, an hour by default).
    link_expiry: bool,
    /// Each Monday, what was done the week before (not sent for a quiet week).
    weekly_summary: bool,
}

impl From<Notifications> for NotificationsView {
    fn from(n: Notifications) -> Self {
        NotificationsView {
            job_finished: n.job_finished,
            link_expiry: n.link_expiry,
            weekly_summary: n.weekly_summary,
        }
    }
}

/// An account's address status.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EmailView {
    /// Whether the sign-in address was proved (true when verification is off).
    verified: bool,
    /// An address asked for and not proved yet.
    pending_email: Option<String>,
    /// Whether unverified accounts are refused work (`verification-required`).
    verification_required: bool,
}

impl From<EmailStatus> for EmailView {
    fn from(e: EmailStatus) -> Self {
        EmailView {
            verified: e.verified,
            pending_email: e.pending,
            verification_required: e.required,
        }
    }
}

/// A local account's e-mail settings.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MailSettingsView {
    /// The address's status.
    pub email: EmailView,
    /// The notifications chosen.
    pub notifications: NotificationsView,
    /// Whether this deployment sends e-mail at all (opting in needs it).
    pub email_enabled: bool,
}

impl From<MailSettings> for MailSettingsView {
    fn from(s: MailSettings) -> Self {
        MailSettingsView {
            email: s.email.into(),
            notifications: s.notifications.into(),
            email_enabled: s.email_enabled,
        }
    }
}

fn no_local_account() -> ApiError {
    easel_services::ServiceError::invalid(
        "not-a-local-account",
        "this principal has no Easel account (it signs in elsewhere)",
    )
    .into()
}

/// The caller's address status and notification choices.
#[utoipa::path(get, path = "/v1/me/notifications", tag = "identity",
    responses(
        (status = 200, description = "The settings", body = MailSettingsView),
        (status = 400, description = "`not-a-local-account`", body = ErrorBody),
    ))]
async fn notifications(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<MailSettingsView>, ApiError> {
    let identity = &state.services.identity;
    let settings = identity.mail_settings(&caller.principal).await?;
    Ok(Json(settings.ok_or_else(no_local_account)?.into()))
}

/// Replaces the caller's notification choices.
#[utoipa::path(put, path = "/v1/me/notifications", tag = "identity", request_body = NotificationsView,
    responses(
        (status = 200, description = "The settings now", body = MailSettingsView),
        (status = 400, description = "`not-a-local-account`, or `email-not-configured` when opting in", body = ErrorBody),
    ))]
async fn set_notifications(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    meta: RequestMeta,
    JsonBody(body): JsonBody<NotificationsView>,
) -> Result<Json<MailSettingsView>, ApiError> {
    let chosen = Notifications {
        job_finished: body.job_finished,
        link_expiry: body.link_expiry,
        weekly_summary: body.weekly_summary,
    };
    let identity = &state.services.identity;
    let settings = identity
        .set_notifications(&meta.0, &caller.principal, chosen)
        .await?;
    Ok(Json(settings.into()))
}
