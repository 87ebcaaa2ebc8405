//! Forgot-password through the real server and a real SMTP server (aiosmtpd): the code
//! arrives by e-mail, resets the password once, and every earlier sign-in ends; an
//! address without an account gets the same answer and no mail; wrong codes are refused
//! and five of them void the code; without `[email]` the routes say so.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{SmtpServer, TestApp, code_in, error_code, free_port, sign_in, wait_for_mail};

async fn reset(app: &TestApp, code: &str, password: &str) -> reqwest::Response {
    let body = json!({ "email": "forgetful@example.com", "code": code, "newPassword": password });
    app.post_json("/v1/auth/reset-password", &body).await
}

#[tokio::test]
async fn a_mailed_code_resets_the_password_once() {
    let port = free_port();
    let smtp = SmtpServer::start(port);
    let app = TestApp::spawn_with(true, move |config| {
        config.email.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        config.email.from = Some("Easel <easel@example.com>".into());
        // Sign-ups here are not what is tested: no verification mail among the others.
        config.auth.email_verification = easel_services::identity::EmailVerification::Off;
    })
    .await;
    let user = app.new_user("forgetful@example.com").await;
    let old_refresh = user.refresh_token.clone();

    let response = app
        .post_json(
            "/v1/auth/forgot-password",
            &json!({ "email": "Forgetful@Example.com" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let accepted: Value = response.json().await.unwrap();
    // An address without an account: the same answer, and no mail.
    let response = app
        .post_json(
            "/v1/auth/forgot-password",
            &json!({ "email": "nobody@example.com" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(response.json::<Value>().await.unwrap(), accepted);

    let mails = wait_for_mail(&smtp, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smtp.messages().len(), 1, "no mail for an unknown address");
    let mail = &mails[0];
    assert!(mail.contains("To: forgetful@example.com"), "{mail}");
    assert!(
        mail.contains("Subject: Your Easel password reset code"),
        "{mail}"
    );
    let code = code_in(mail);

    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_eq!(
        error_code(
            reset(&app, wrong, "N3w-password!").await,
            StatusCode::FORBIDDEN
        )
        .await,
        "invalid-code"
    );
    assert_eq!(
        error_code(reset(&app, &code, "short").await, StatusCode::BAD_REQUEST).await,
        "invalid-password"
    );
    assert_eq!(
        reset(&app, &code, "N3w-password!").await.status(),
        StatusCode::NO_CONTENT
    );
    // Used once.
    assert_eq!(
        error_code(
            reset(&app, &code, "An0ther-password!").await,
            StatusCode::FORBIDDEN
        )
        .await,
        "invalid-code"
    );
    // The new password signs in; the old sign-in is over.
    sign_in(&app.base, "forgetful@example.com", "N3w-password!").await;
    let response = app
        .post_json("/v1/auth/refresh", &json!({ "refreshToken": old_refresh }))
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Five wrong tries void a fresh code.
    app.post_json(
        "/v1/auth/forgot-password",
        &json!({ "email": "forgetful@example.com" }),
    )
    .await;
    let mails = wait_for_mail(&smtp, 2).await;
    let fresh = mails
        .iter()
        .map(|m| code_in(m))
        .find(|c| *c != code)
        .unwrap_or_else(|| code_in(&mails[1]));
    let wrong = if fresh == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..5 {
        reset(&app, wrong, "Th1rd-password!").await;
    }
    assert_eq!(
        error_code(
            reset(&app, &fresh, "Th1rd-password!").await,
            StatusCode::FORBIDDEN
        )
        .await,
        "invalid-code"
    );
}

#[tokio::test]
async fn without_an_email_server_there_is_no_reset() {
    let app = TestApp::spawn().await;
    let response = app
        .post_json(
            "/v1/auth/forgot-password",
            &json!({ "email": "someone@example.com" }),
        )
        .await;
    assert_eq!(
        error_code(response, StatusCode::BAD_REQUEST).await,
        "email-not-configured"
    );
}

/// Credentials are never sent in the clear: with a user and password in `smtp://` and a
/// server that offers no STARTTLS, nothing is sent and the mail job keeps failing.
#[tokio::test]
async fn credentials_need_starttls() {
    let port = free_port();
    let smtp = SmtpServer::start(port);
    let app = TestApp::spawn_with(true, move |config| {
        config.email.smtp_url = Some(format!("smtp://easel:secret@127.0.0.1:{port}"));
        config.email.from = Some("easel@example.com".into());
        // Sign-ups here are not what is tested: no verification mail among the others.
        config.auth.email_verification = easel_services::identity::EmailVerification::Off;
    })
    .await;
    let user = app.new_user("careful@example.com").await;
    let response = app
        .post_json(
            "/v1/auth/forgot-password",
            &json!({ "email": "careful@example.com" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let mut failed = None;
    for _ in 0..100 {
        let jobs: Value = user
            .client
            .get(app.url("/v1/jobs?kind=email"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(job) = jobs["jobs"].as_array().unwrap().first()
            && job["attempts"].as_u64().unwrap() >= 1
            && job["errorCode"].is_string()
        {
            failed = Some(job.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let failed = failed.expect("the mail job did not fail");
    assert!(
        failed["error"].as_str().unwrap().contains("mail server"),
        "{failed}"
    );
    assert!(smtp.messages().is_empty(), "nothing went out in the clear");
}
