//! Account e-mail through the real server and a real SMTP server (aiosmtpd): the code
//! mailed at sign-up verifies the address, and until then work that spends quota is
//! refused; a change of address takes effect only once the new address proves itself;
//! sign-ups solve the proof-of-work when it is on; the notifications a holder opts into
//! arrive (job finished, link expiry), and nothing arrives for those who did not.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, Session, SmtpServer, TestApp, code_in, error_code, free_port, inpainting, png,
    sign_in, solve, wait_for_mail_to,
};

async fn with_mail(
    adjust: impl FnOnce(&mut easel::config::Config) + Send + 'static,
) -> (TestApp, SmtpServer) {
    let port = free_port();
    let smtp = SmtpServer::start(port);
    let app = TestApp::spawn_with(true, move |config| {
        config.email.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        config.email.from = Some("Easel <easel@example.com>".into());
        adjust(config);
    })
    .await;
    (app, smtp)
}

/// POSTs `body` to `path` without credentials.
async fn public_post(app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
    app.anonymous()
        .post(app.url(path))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn sign_up(app: &TestApp, email: &str, altcha: Option<String>) -> reqwest::Response {
    let mut body = json!({ "email": email, "password": PASSWORD });
    if let Some(altcha) = altcha {
        body["altcha"] = json!(altcha);
    }
    public_post(app, "/v1/auth/sign-up", &body).await
}

/// Uploads a small PNG as `who` and submits a thumbnail job on it.
async fn submit_job(app: &TestApp, who: &Session) -> reqwest::Response {
    let key = upload_as(app, who).await;
    who.client
        .post(app.url("/v1/jobs"))
        .json(&json!({ "sources": [key], "preset": "thumbnail" }))
        .send()
        .await
        .unwrap()
}

/// Presigns and uploads a small PNG as `who`; returns its key.
async fn upload_as(app: &TestApp, who: &Session) -> String {
    let presigned: Value = who
        .client
        .post(app.url("/v1/uploads"))
        .json(&json!({ "filename": "a.png", "contentType": "image/png" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let response = who
        .client
        .put(presigned["url"].as_str().unwrap())
        .header("content-type", "image/png")
        .body(png(32, 24))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    presigned["key"].as_str().unwrap().to_owned()
}

async fn me(app: &TestApp, who: &Session) -> Value {
    who.client
        .get(app.url("/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_new_address_is_verified_before_it_spends_quota() {
    let (app, smtp) = with_mail(|_| {}).await;
    let response = sign_up(&app, "New.Comer@Example.com", None).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["verificationSent"], true);
    let who = sign_in(&app.base, "new.comer@example.com", PASSWORD).await;
    assert_eq!(me(&app, &who).await["account"]["email"]["verified"], false);

    // Signed in, but work waits for the address.
    assert_eq!(
        error_code(submit_job(&app, &who).await, StatusCode::FORBIDDEN).await,
        "verification-required"
    );
    let generate = inpainting("a cat");
    let response = who
        .client
        .post(app.url("/v1/generations"))
        .json(&generate)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response, StatusCode::FORBIDDEN).await,
        "verification-required"
    );

    let mail = wait_for_mail_to(&smtp, "new.comer@example.com", "Verify your e-mail").await;
    let code = code_in(&mail);
    let verify = |code: String| {
        let app = &app;
        async move {
            public_post(
                app,
                "/v1/auth/verify-email",
                &json!({ "email": "new.comer@example.com", "code": code }),
            )
            .await
        }
    };
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_eq!(
        error_code(verify(wrong.into()).await, StatusCode::FORBIDDEN).await,
        "invalid-code"
    );
    // An address without an account answers exactly like a wrong code.
    let response = public_post(
        &app,
        "/v1/auth/verify-email",
        &json!({ "email": "nobody@example.com", "code": code }),
    )
    .await;
    assert_eq!(
        error_code(response, StatusCode::FORBIDDEN).await,
        "invalid-code"
    );
    assert_eq!(verify(code.clone()).await.status(), StatusCode::NO_CONTENT);
    // A second click on the link is no error.
    assert_eq!(verify(code).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(&app, &who).await["account"]["email"]["verified"], true);
    assert_eq!(submit_job(&app, &who).await.status(), StatusCode::ACCEPTED);

    // Asking for another code once verified sends nothing, and says the same.
    let before = smtp.messages().len();
    let response = public_post(
        &app,
        "/v1/auth/resend-verification",
        &json!({ "email": "new.comer@example.com" }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(smtp.messages().len(), before);
}

#[tokio::test]
async fn a_lost_code_can_be_sent_again() {
    let (app, smtp) = with_mail(|_| {}).await;
    assert_eq!(
        sign_up(&app, "lost@example.com", None).await.status(),
        StatusCode::CREATED
    );
    let first = code_in(&wait_for_mail_to(&smtp, "lost@example.com", "Verify").await);
    let response = public_post(
        &app,
        "/v1/auth/resend-verification",
        &json!({ "email": "lost@example.com" }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let mut second = first.clone();
    for _ in 0..200 {
        let codes: Vec<String> = smtp
            .messages()
            .iter()
            .filter(|m| m.contains("To: lost@example.com"))
            .map(|m| code_in(m))
            .collect();
        if codes.len() == 2 {
            second = codes
                .into_iter()
                .find(|c| *c != first)
                .unwrap_or(first.clone());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let response = public_post(
        &app,
        "/v1/auth/verify-email",
        &json!({ "email": "lost@example.com", "code": second }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn optional_verification_refuses_nothing_and_no_mail_means_no_verification() {
    let (app, smtp) = with_mail(|config| {
        config.auth.email_verification = easel_services::identity::EmailVerification::Optional;
    })
    .await;
    let who = app.new_user("relaxed@example.com").await;
    assert_eq!(submit_job(&app, &who).await.status(), StatusCode::ACCEPTED);
    wait_for_mail_to(&smtp, "relaxed@example.com", "Verify").await;
    let account = &me(&app, &who).await["account"];
    assert_eq!(account["email"]["verified"], false);
    assert_eq!(account["email"]["verificationRequired"], false);

    // Without [email]: sign-up works as before, and the address counts as verified.
    let plain = TestApp::spawn().await;
    let response = sign_up(&plain, "plain@example.com", None).await;
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["verificationSent"], false);
    let who = sign_in(&plain.base, "plain@example.com", PASSWORD).await;
    assert_eq!(
        submit_job(&plain, &who).await.status(),
        StatusCode::ACCEPTED
    );
    let account = &me(&plain, &who).await["account"];
    assert_eq!(account["email"]["verified"], true);
    assert_eq!(account["emailEnabled"], false);
    // Opting into mail that cannot be sent is refused; opting out is fine.
    let response = who
        .client
        .put(plain.url("/v1/me/notifications"))
        .json(&json!({ "jobFinished": true, "linkExpiry": false, "weeklySummary": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response, StatusCode::BAD_REQUEST).await,
        "email-not-configured"
    );
    let response = who
        .client
        .put(plain.url("/v1/me/notifications"))
        .json(&json!({ "jobFinished": false, "linkExpiry": false, "weeklySummary": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_new_address_takes_effect_once_it_proves_itself() {
    let (app, smtp) = with_mail(|config| {
        config.auth.email_verification = easel_services::identity::EmailVerification::Off;
    })
    .await;
    let who = app.new_user("mover@example.com").await;
    app.new_user("taken@example.com").await;
    let change = |new: &'static str, password: &'static str| {
        let (app, who) = (&app, &who);
        async move {
            who.client
                .post(app.url("/v1/me/email"))
                .json(&json!({ "newEmail": new, "password": password }))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        error_code(
            change("moved@example.com", "Wrong-passw0rd!").await,
            StatusCode::FORBIDDEN
        )
        .await,
        "forbidden"
    );
    assert_eq!(
        error_code(
            change("taken@example.com", PASSWORD).await,
            StatusCode::CONFLICT
        )
        .await,
        "username-exists"
    );
    let response = change("Moved@Example.com", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let started: Value = response.json().await.unwrap();
    assert_eq!(started["pendingEmail"], "moved@example.com");
    assert_eq!(
        me(&app, &who).await["account"]["email"]["pendingEmail"],
        "moved@example.com"
    );
    // Until the code comes back, the old address is the account's.
    sign_in(&app.base, "mover@example.com", PASSWORD).await;

    let mail = wait_for_mail_to(&smtp, "moved@example.com", "Confirm your new e-mail").await;
    let code = code_in(&mail);
    let confirm = |code: String| {
        let (app, who) = (&app, &who);
        async move {
            who.client
                .post(app.url("/v1/me/email/verify"))
                .json(&json!({ "code": code }))
                .send()
                .await
                .unwrap()
        }
    };
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_eq!(
        error_code(confirm(wrong.into()).await, StatusCode::FORBIDDEN).await,
        "invalid-code"
    );
    let response = confirm(code.clone()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let changed: Value = response.json().await.unwrap();
    assert_eq!(changed["username"], "moved@example.com");
    sign_in(&app.base, "moved@example.com", PASSWORD).await;
    let response = public_post(
        &app,
        "/v1/auth/sign-in",
        &json!({ "username": "mover@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Used once; nothing pending any more: a conflict with the account's state.
    assert_eq!(
        error_code(confirm(code).await, StatusCode::CONFLICT).await,
        "no-pending-email"
    );
}

async fn new_challenge(app: &TestApp) -> Value {
    let response = app
        .anonymous()
        .get(app.url("/v1/auth/challenge"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn sign_ups_solve_a_proof_of_work_when_it_is_on() {
    let app = TestApp::spawn_with(true, |config| {
        config.auth.challenge.enabled = true;
        config.auth.challenge.max_number = 5_000;
    })
    .await;
    let challenge = new_challenge(&app).await;
    assert_eq!(challenge["algorithm"], "SHA-256");
    assert_eq!(challenge["maxnumber"], 5_000);
    assert_eq!(challenge["required"], true);
    assert!(challenge["salt"].as_str().unwrap().contains("?expires="));

    assert_eq!(
        error_code(
            sign_up(&app, "bot@example.com", None).await,
            StatusCode::BAD_REQUEST
        )
        .await,
        "challenge-required"
    );
    let solution = solve(&challenge);
    assert_eq!(
        sign_up(&app, "human@example.com", Some(solution.clone()))
            .await
            .status(),
        StatusCode::CREATED
    );
    // One solution, one account.
    assert_eq!(
        error_code(
            sign_up(&app, "second@example.com", Some(solution)).await,
            StatusCode::BAD_REQUEST
        )
        .await,
        "invalid-challenge"
    );

    // A wrong number, a forged signature, a tampered salt, garbage: all refused.
    let fresh = new_challenge(&app).await;
    let good: Value = serde_json::from_slice(&STANDARD.decode(solve(&fresh)).unwrap()).unwrap();
    let mut wrong = good.clone();
    wrong["number"] = json!(good["number"].as_u64().unwrap() + 1);
    let mut forged = good.clone();
    forged["signature"] = json!("00".repeat(32));
    let mut tampered = good.clone();
    tampered["salt"] = json!(format!("{}0", good["salt"].as_str().unwrap()));
    for bad in [wrong, forged, tampered] {
        let response = sign_up(
            &app,
            "bot@example.com",
            Some(STANDARD.encode(bad.to_string())),
        )
        .await;
        assert_eq!(
            error_code(response, StatusCode::BAD_REQUEST).await,
            "invalid-challenge"
        );
    }
    let response = sign_up(&app, "bot@example.com", Some("not base64!".into())).await;
    assert_eq!(
        error_code(response, StatusCode::BAD_REQUEST).await,
        "invalid-challenge"
    );
    // The untouched solution still works: failures spent nothing.
    let response = sign_up(
        &app,
        "late@example.com",
        Some(STANDARD.encode(good.to_string())),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn opted_in_holders_hear_of_finished_work_and_expiring_links() {
    let (app, smtp) = with_mail(|config| {
        config.auth.email_verification = easel_services::identity::EmailVerification::Off;
        // The reminder falls due a second after the generation: the sweep runs each second.
        config.email.link_expiry_lead_secs = 86_399;
        config.email.notify_interval_secs = 1;
    })
    .await;
    let who = app.new_user("keen@example.com").await;
    let quiet = app.new_user("quiet@example.com").await;
    let settings: Value = who
        .client
        .get(app.url("/v1/me/notifications"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        settings["notifications"],
        json!({ "jobFinished": false, "linkExpiry": false, "weeklySummary": false })
    );
    let response = who
        .client
        .put(app.url("/v1/me/notifications"))
        .json(&json!({ "jobFinished": true, "linkExpiry": true, "weeklySummary": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let settings: Value = response.json().await.unwrap();
    assert_eq!(settings["notifications"]["linkExpiry"], true);
    assert_eq!(
        me(&app, &who).await["account"]["notifications"]["jobFinished"],
        true
    );

    // A processing job: a mail when it completes.
    let response = submit_job(&app, &who).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let job: Value = response.json().await.unwrap();
    let mail = wait_for_mail_to(&smtp, "keen@example.com", "processing job completed").await;
    assert!(mail.contains(job["jobId"].as_str().unwrap()), "{mail}");

    // A generation: a mail when it completes, then the reminder about its link.
    let generate = inpainting("a lighthouse at dusk");
    let response = who
        .client
        .post(app.url("/v1/generations?wait=60"))
        .json(&generate)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await.unwrap()
    );
    wait_for_mail_to(&smtp, "keen@example.com", "generation completed").await;
    let reminder = wait_for_mail_to(&smtp, "keen@example.com", "link expires soon").await;
    assert!(reminder.contains("a lighthouse at dusk"), "{reminder}");

    // Someone who did not opt in gets nothing for the same work.
    assert_eq!(
        submit_job(&app, &quiet).await.status(),
        StatusCode::ACCEPTED
    );
    let response = quiet
        .client
        .post(app.url("/v1/generations?wait=60"))
        .json(&generate)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(
        !smtp
            .messages()
            .iter()
            .any(|m| m.contains("To: quiet@example.com")),
        "no mail for those who did not ask"
    );
    // Each notification went out once.
    let to_keen = smtp
        .messages()
        .into_iter()
        .filter(|m| m.contains("To: keen@example.com"))
        .count();
    assert_eq!(to_keen, 3);
}
