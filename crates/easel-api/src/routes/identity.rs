//! Sign-up, sign-in, refresh, sign-out and password change (the identity service's
//! flows) with Cognito's request and token shapes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use easel_services::identity::Session;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Authenticated, RequestMeta};
use crate::error::ErrorBody;
use crate::extract::JsonBody;
use crate::routes::{Access, Routes};
use crate::{ApiError, AppState};

pub fn routes() -> Routes {
    Routes::new()
        .add("/v1/auth/sign-up", Access::Public, &["POST"], post(sign_up))
        .add("/v1/auth/sign-in", Access::Public, &["POST"], post(sign_in))
        .add("/v1/auth/refresh", Access::Public, &["POST"], post(refresh))
        .add(
            "/v1/auth/forgot-password",
            Access::Public,
            &["POST"],
            post(forgot_password),
        )
        .add(
            "/v1/auth/reset-password",
            Access::Public,
            &["POST"],
            post(reset_password),
        )
        .add(
            "/v1/auth/sign-out",
            Access::Public,
            &["POST"],
            post(sign_out),
        )
        .add(
            "/v1/auth/password",
            Access::Authenticated,
            &["POST"],
            post(change_password),
        )
}

/// A new account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignUp {
    /// The email address, which becomes the username.
    #[schema(schema_with = crate::openapi::email_schema)]
    email: String,
    /// Checked against the password policy (length, character classes).
    #[schema(schema_with = crate::openapi::password_schema)]
    password: String,
    /// A solved challenge from `GET /v1/auth/challenge` (base64 JSON, as ALTCHA's widget
    /// sends it); needed when `[auth.challenge]` is on.
    #[schema(max_length = 4096)]
    altcha: Option<String>,
}

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignIn {
    /// The username (or `email`, its synonym).
    #[serde(alias = "email")]
    #[schema(example = "me@example.com")]
    username: String,
    #[schema(example = "Corr3ct-horse")]
    password: String,
}

/// A refresh token from sign-in or an earlier refresh.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RefreshRequest {
    refresh_token: String,
}

/// A password change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ChangePassword {
    current_password: String,
    /// Checked against the password policy.
    #[schema(schema_with = crate::openapi::password_schema)]
    new_password: String,
}

/// The account just created.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct SignedUp {
    /// The subject id (`sub` of its tokens).
    user_id: String,
    /// The normalized email address.
    username: String,
    /// Whether a verification code was e-mailed: enter it at `/v1/auth/verify-email`.
    verification_sent: bool,
}

/// Tokens, in Cognito's shape.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Tokens {
    /// An ID token (JWT, EdDSA).
    id_token: String,
    /// The access token to send as `Authorization: Bearer` (JWT, EdDSA).
    access_token: String,
    /// Single use: refreshing returns a new one.
    refresh_token: String,
    /// Seconds the access token is valid.
    expires_in: i64,
    /// Always `Bearer`.
    #[schema(value_type = String, example = "Bearer")]
    token_type: &'static str,
}

/// Creates an account (when `auth.allow_sign_up` is on).
#[utoipa::path(post, path = "/v1/auth/sign-up", tag = "identity", request_body = SignUp,
    responses(
        (status = 201, description = "Created", body = SignedUp),
        (status = 400, description = "`invalid-email`, `invalid-password`, or (with `[auth.challenge]` on) `challenge-required` or `invalid-challenge` (malformed, forged, wrong, expired or used)", body = ErrorBody),
        (status = 403, description = "`forbidden`: self sign-up is disabled", body = ErrorBody),
        (status = 409, description = "`username-exists`", body = ErrorBody),
    ))]
async fn sign_up(
    State(state): State<AppState>,
    meta: RequestMeta,
    JsonBody(body): JsonBody<SignUp>,
) -> Result<(StatusCode, Json<SignedUp>), ApiError> {
    let identity = &state.services.identity;
    let signed_up = identity
        .sign_up(&meta.0, &body.email, body.password, body.altcha.as_deref())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(SignedUp {
            user_id: signed_up.user_id,
            username: signed_up.username,
            verification_sent: signed_up.verification_sent,
        }),
    ))
}

/// Tokens in Cognito's shape.
fn token_response(session: Session) -> Json<Tokens> {
    Json(Tokens {
        id_token: session.id_token,
        access_token: session.access_token,
        refresh_token: session.refresh_token,
        expires_in: session.expires_in,
        token_type: "Bearer",
    })
}

/// Signs in with a username and password.
#[utoipa::path(post, path = "/v1/auth/sign-in", tag = "identity", request_body = SignIn,
    responses(
        (status = 200, description = "Signed in", body = Tokens),
        (status = 401, description = "`invalid-credentials` (unknown name, wrong password or disabled account alike)", body = ErrorBody),
        (status = 429, description = "`too-many-failed-sign-ins`, with `Retry-After`", body = ErrorBody),
    ))]
async fn sign_in(
    State(state): State<AppState>,
    meta: RequestMeta,
    JsonBody(body): JsonBody<SignIn>,
) -> Result<Json<Tokens>, ApiError> {
    let identity = &state.services.identity;
    let session = identity
        .sign_in(&meta.0, &body.username, body.password)
        .await?;
    Ok(token_response(session))
}

/// New tokens for a refresh token; the old refresh token is used up (presenting it
/// again revokes the whole sign-in).
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "identity", request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens and a new refresh token", body = Tokens),
        (status = 401, description = "`invalid-refresh-token`", body = ErrorBody),
    ))]
async fn refresh(
    State(state): State<AppState>,
    meta: RequestMeta,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> Result<Json<Tokens>, ApiError> {
    let identity = &state.services.identity;
    let session = identity.refresh(&meta.0, &body.refresh_token).await?;
    Ok(token_response(session))
}

/// An address to send a password reset code to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ForgotPassword {
    /// The account's e-mail address.
    #[schema(schema_with = crate::openapi::email_schema)]
    email: String,
}

/// The same answer whether the address has an account or not.
#[derive(Debug, Serialize, ToSchema)]
struct ForgotPasswordAccepted {
    /// What happens next.
    message: &'static str,
}

/// E-mails a six-digit code (valid 15 minutes, once) to the address if it has an
/// account; the answer is the same either way. Needs an `[email]` server.
#[utoipa::path(post, path = "/v1/auth/forgot-password", tag = "identity", request_body = ForgotPassword,
    responses(
        (status = 202, description = "If the address has an account, a code is on its way", body = ForgotPasswordAccepted),
        (status = 400, description = "`invalid-email`, or `email-not-configured`", body = ErrorBody),
    ))]
async fn forgot_password(
    State(state): State<AppState>,
    meta: RequestMeta,
    JsonBody(body): JsonBody<ForgotPassword>,
) -> Result<(StatusCode, Json<ForgotPasswordAccepted>), ApiError> {
    state
        .services
        .identity
        .forgot_password(&meta.0, &body.email)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ForgotPasswordAccepted {
            message: "If that address has an account, a code is on its way.",
        }),
    ))
}

/// A new password with the e-mailed code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ResetPassword {
    /// The account's e-mail address.
    #[schema(schema_with = crate::openapi::email_schema)]
    email: String,
    /// The six-digit code from the e-mail.
    #[schema(min_length = 1, max_length = 20)]
    code: String,
    /// The new password (the password policy applies).
    #[schema(schema_with = crate::openapi::password_schema)]
    new_password: String,
}

/// Sets a new password with the code from `/v1/auth/forgot-password`; every sign-in of
/// the account ends.
#[utoipa::path(post, path = "/v1/auth/reset-password", tag = "identity", request_body = ResetPassword,
    responses(
        (status = 204, description = "The password is changed; every refresh token is revoked"),
        (status = 400, description = "`invalid-password`, `invalid-email` or `email-not-configured`", body = ErrorBody),
        (status = 403, description = "`invalid-code`: wrong, used or expired", body = ErrorBody),
    ))]
async fn reset_password(
    State(state): State<AppState>,
    meta: RequestMeta,
    JsonBody(body): JsonBody<ResetPassword>,
) -> Result<StatusCode, ApiError> {
    state
        .services
        .identity
        .reset_password(&meta.0, &body.email, &body.code, body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes the sign-in a refresh token belongs to (idempotent).
#[utoipa::path(post, path = "/v1/auth/sign-out", tag = "identity", request_body = RefreshRequest,
    responses((status = 204, description = "Signed out (also for unknown tokens)")))]
async fn sign_out(
    State(state): State<AppState>,
    meta: RequestMeta,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    let identity = &state.services.identity;
    // The same answer for unknown tokens: sign-out is idempotent.
    identity.sign_out(&meta.0, &body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the caller's password and signs them out everywhere.
#[utoipa::path(post, path = "/v1/auth/password", tag = "identity", request_body = ChangePassword,
    responses(
        (status = 204, description = "Changed; every refresh token is revoked"),
        (status = 400, description = "`invalid-password` or `no-local-password` (an external identity)", body = ErrorBody),
        (status = 403, description = "`forbidden`: the current password is wrong", body = ErrorBody),
    ))]
async fn change_password(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    meta: RequestMeta,
    JsonBody(body): JsonBody<ChangePassword>,
) -> Result<StatusCode, ApiError> {
    let identity = &state.services.identity;
    let principal = &caller.principal;
    identity
        .change_password(&meta.0, principal, body.current_password, body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
