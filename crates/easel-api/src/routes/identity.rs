//! Sign-up, sign-in, refresh, sign-out and password change, with Cognito's token
//! shapes. Failed sign-ins are throttled per username (known or not) and answer the
//! same error in about the same time whether the account exists or not.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use easel_core::now_millis;
use easel_store::{NewRefreshToken, RotateOutcome, StoreError, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::passwords::{hash_password, normalize_email, verify_password};
use crate::auth::{Authenticated, RequestMeta, api_key_hash, audit};
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
    #[schema(example = "me@example.com")]
    email: String,
    /// Checked against the password policy (length, character classes).
    #[schema(example = "Corr3ct-horse")]
    password: String,
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

/// Runs argon2 off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ApiError::internal)
}

fn check_password(state: &AppState, password: &str) -> Result<(), ApiError> {
    state
        .auth
        .settings
        .password_policy
        .check(password)
        .map_err(|message| ApiError::bad_request("invalid-password", message))
}

/// Creates an account (when `auth.allow_sign_up` is on).
#[utoipa::path(post, path = "/v1/auth/sign-up", tag = "identity", request_body = SignUp,
    responses(
        (status = 201, description = "Created", body = SignedUp),
        (status = 400, description = "`invalid-email` or `invalid-password`", body = ErrorBody),
        (status = 403, description = "`forbidden`: self sign-up is disabled", body = ErrorBody),
        (status = 409, description = "`username-exists`", body = ErrorBody),
    ))]
async fn sign_up(
    State(state): State<AppState>,
    meta: RequestMeta,
    JsonBody(body): JsonBody<SignUp>,
) -> Result<(StatusCode, Json<SignedUp>), ApiError> {
    if !state.auth.settings.allow_sign_up {
        return Err(ApiError::forbidden(
            "self sign-up is disabled here; ask an administrator for an account",
        ));
    }
    let username = normalize_email(&body.email)
        .map_err(|message| ApiError::bad_request("invalid-email", message))?;
    check_password(&state, &body.password)?;
    let password = body.password;
    let hash = blocking(move || hash_password(&password))
        .await?
        .map_err(ApiError::internal)?;
    let now = now_millis();
    let user = User {
        id: Uuid::new_v4().to_string(),
        username,
        password_hash: hash,
        admin: false,
        plan: None,
        disabled: false,
        created_at: now,
        updated_at: now,
    };
    match state.identity.create_user(&user).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "username-exists",
                "an account with this email already exists",
            ));
        }
        Err(other) => return Err(other.into()),
    }
    audit(
        &state,
        &meta,
        "signed-up",
        Some(&user.id),
        Some(&user.username),
        None,
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(SignedUp {
            user_id: user.id,
            username: user.username,
        }),
    ))
}

fn invalid_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid-credentials",
        "incorrect username or password",
    )
}

/// Issues ID and access tokens and the family's refresh token.
async fn token_response(
    state: &AppState,
    user: &User,
    refresh_token: String,
) -> Result<Json<Tokens>, ApiError> {
    let tokens = state
        .auth
        .issue(user, now_millis() / 1000)
        .map_err(ApiError::internal)?;
    Ok(Json(Tokens {
        id_token: tokens.id_token,
        access_token: tokens.access_token,
        refresh_token,
        expires_in: tokens.expires_in,
        token_type: "Bearer",
    }))
}

fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    format!("rt_{}", hex::encode(bytes))
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
    let username = body.username.trim().to_lowercase();
    if username.is_empty() || username.len() > 254 {
        return Err(invalid_credentials());
    }
    let now = now_millis();
    let locked_until = state.identity.login_locked_until(&username).await?;
    if locked_until > now {
        audit(&state, &meta, "sign-in-locked", None, Some(&username), None).await;
        let retry = ((locked_until - now) as u64).div_ceil(1000);
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-failed-sign-ins",
            format!("too many failed sign-ins for this username; retry in {retry} s"),
        )
        .with_retry_after(retry));
    }
    let user = state.identity.user_by_username(&username).await?;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let password = body.password;
    let matches = blocking(move || verify_password(&password, hash.as_deref())).await?;
    let user = match user {
        Some(user) if matches && !user.disabled => user,
        other => {
            let failure = state
                .identity
                .record_login_failure(&username, now, state.auth.settings.lockout)
                .await?;
            let principal = other.as_ref().map(|u| u.id.as_str());
            let detail = other
                .as_ref()
                .filter(|u| u.disabled)
                .map(|_| "account disabled".to_owned());
            audit(
                &state,
                &meta,
                "sign-in-failed",
                principal,
                Some(&username),
                detail,
            )
            .await;
            if failure.locked_until > now {
                let detail = format!("locked for {} ms", failure.locked_until - now);
                audit(
                    &state,
                    &meta,
                    "account-locked",
                    principal,
                    Some(&username),
                    Some(detail),
                )
                .await;
            }
            return Err(invalid_credentials());
        }
    };
    state.identity.clear_login_failures(&username).await?;
    let refresh = new_refresh_token();
    state
        .identity
        .insert_refresh_token(&NewRefreshToken {
            hash: api_key_hash(&refresh),
            family: Uuid::new_v4().to_string(),
            user_id: user.id.clone(),
            created_at: now,
            expires_at: now + state.auth.settings.refresh_ttl_secs * 1000,
        })
        .await?;
    audit(
        &state,
        &meta,
        "sign-in-succeeded",
        Some(&user.id),
        Some(&username),
        None,
    )
    .await;
    token_response(&state, &user, refresh).await
}

fn invalid_refresh() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid-refresh-token",
        "the refresh token is not valid (expired, revoked or already used); sign in again",
    )
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
    let next = new_refresh_token();
    let outcome = state
        .identity
        .rotate_refresh_token(
            &api_key_hash(&body.refresh_token),
            &api_key_hash(&next),
            now_millis(),
        )
        .await?;
    let user_id = match outcome {
        RotateOutcome::Rotated { user_id, .. } => user_id,
        RotateOutcome::Reused { user_id, family } => {
            let detail = Some(format!("family {family} revoked"));
            audit(
                &state,
                &meta,
                "refresh-token-reused",
                Some(&user_id),
                None,
                detail,
            )
            .await;
            return Err(invalid_refresh());
        }
        RotateOutcome::Invalid => return Err(invalid_refresh()),
    };
    let user = state
        .identity
        .user_by_id(&user_id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(invalid_refresh)?;
    audit(
        &state,
        &meta,
        "token-refreshed",
        Some(&user.id),
        Some(&user.username),
        None,
    )
    .await;
    token_response(&state, &user, next).await
}

/// Revokes the sign-in a refresh token belongs to (idempotent).
#[utoipa::path(post, path = "/v1/auth/sign-out", tag = "identity", request_body = RefreshRequest,
    responses((status = 204, description = "Signed out (also for unknown tokens)")))]
async fn sign_out(
    State(state): State<AppState>,
    meta: RequestMeta,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    let revoked = state
        .identity
        .revoke_refresh_family(&api_key_hash(&body.refresh_token), now_millis())
        .await?;
    if let Some(user_id) = revoked {
        audit(&state, &meta, "signed-out", Some(&user_id), None, None).await;
    }
    // The same answer for unknown tokens: sign-out is idempotent.
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
    caller: Authenticated,
    meta: RequestMeta,
    JsonBody(body): JsonBody<ChangePassword>,
) -> Result<StatusCode, ApiError> {
    let not_local = || {
        ApiError::bad_request(
            "no-local-password",
            "this principal has no Easel password (an external or no-auth identity)",
        )
    };
    let user = state
        .identity
        .user_by_id(&caller.principal.id)
        .await?
        .ok_or_else(not_local)?;
    check_password(&state, &body.new_password)?;
    let (current, hash) = (body.current_password, user.password_hash.clone());
    if !blocking(move || verify_password(&current, Some(&hash))).await? {
        audit(
            &state,
            &meta,
            "password-change-failed",
            Some(&user.id),
            None,
            None,
        )
        .await;
        return Err(ApiError::forbidden("the current password is not correct"));
    }
    let new = body.new_password;
    let hash = blocking(move || hash_password(&new))
        .await?
        .map_err(ApiError::internal)?;
    let now = now_millis();
    state
        .identity
        .set_password_hash(&user.id, &hash, now)
        .await?;
    state
        .identity
        .revoke_user_refresh_tokens(&user.id, now)
        .await?;
    audit(
        &state,
        &meta,
        "password-changed",
        Some(&user.id),
        Some(&user.username),
        None,
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
