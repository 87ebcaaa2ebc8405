//! Server behaviours Schemathesis (scripts/schemathesis) found at odds with the OpenAPI
//! document, each fixed on the server's side: whole-number floats where the document says
//! `integer`, e-mail addresses measured in characters, the configured limits stated in
//! the served document, and the statuses of one-time codes.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code};

/// JSON Schema counts `92.0` as an integer: a JSON body takes it where an integer goes
/// (and a fractional number is still refused).
#[tokio::test]
async fn whole_number_floats_are_integers_in_json_bodies() {
    let app = TestApp::spawn_without_workers().await;
    let admin = app.admin().await;
    let redrive = |body: Value| {
        admin
            .client
            .post(app.url("/v1/admin/jobs/redrive"))
            .json(&body)
            .send()
    };
    let response = redrive(json!({ "all": true, "limit": 92.0 }))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = redrive(json!({ "all": true, "limit": 92.5 }))
        .await
        .unwrap();
    assert_eq!(
        error_code(response, StatusCode::BAD_REQUEST).await,
        "invalid-request"
    );
}

/// An address of up to 254 characters is taken whatever their UTF-8 length (the
/// document's `maxLength` counts characters); one character more is not.
#[tokio::test]
async fn email_addresses_are_measured_in_characters() {
    let app = TestApp::spawn_without_workers().await;
    let sign_up = |email: String| {
        app.anonymous()
            .post(app.url("/v1/auth/sign-up"))
            .json(&json!({ "email": email, "password": "Corr3ct-horse" }))
            .send()
    };
    // 200 two-byte characters: 254 characters, 454 bytes.
    let local = "é".repeat(200);
    let domain = format!("{}.test", "d".repeat(254 - 200 - 1 - 5));
    let email = format!("{local}@{domain}");
    assert_eq!(email.chars().count(), 254);
    let response = sign_up(email).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let response = sign_up(format!("{local}@d{domain}")).await.unwrap();
    assert_eq!(
        error_code(response, StatusCode::BAD_REQUEST).await,
        "invalid-email"
    );
}

/// The served document states this server's configured limits, so that what it calls
/// valid is what the server accepts.
#[tokio::test]
async fn the_document_states_the_configured_limits() {
    let app = TestApp::spawn_with(false, |config| {
        config.generation.max_wait_secs = 7;
        config.storage.max_upload_bytes = 12_345;
        config.storage.upload_content_types = vec!["image/png".into()];
        config.jobs.max_sources = 3;
    })
    .await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let wait = doc["paths"]["/v1/history/{id}/regenerate"]["post"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "wait")
        .unwrap();
    assert_eq!(wait["schema"]["maximum"], 7);
    let presign = &doc["components"]["schemas"]["PresignRequest"]["properties"];
    assert_eq!(presign["size"]["maximum"], 12_345);
    let pattern = presign["contentType"]["pattern"].as_str().unwrap();
    assert!(
        pattern.contains("([iI][mM][aA][gG][eE]/[pP][nN][gG])"),
        "{pattern}"
    );
    let job = &doc["components"]["schemas"]["CreateJob"];
    assert_eq!(job["properties"]["sources"]["maxItems"], 3);
    // A process job (the default kind) needs a source, a noop job takes none.
    let kinds: Vec<&str> = job["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["title"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["process", "noop"]);
    assert_eq!(job["oneOf"][0]["properties"]["sources"]["minItems"], 1);
    assert_eq!(job["oneOf"][1]["properties"]["sources"]["maxItems"], 0);
    let presets = job["properties"]["preset"]["enum"].as_array().unwrap();
    assert!(presets.contains(&json!("thumbnail")), "{presets:?}");

    // And the server holds to them.
    let response = app
        .post_json(
            "/v1/uploads",
            &json!({ "filename": "a.png", "contentType": " IMAGE/PNG ", "size": 12_345 }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = app
        .post_json(
            "/v1/uploads",
            &json!({ "filename": "a.png", "contentType": "image/png", "size": 12_346 }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// A regenerate body of `null` (the document's body is the object or null) is no body:
/// a new entry with a new seed; a whole-number float seed is taken as the integer; seeds
/// are those every model takes.
#[tokio::test]
async fn a_null_regenerate_body_is_no_body() {
    let app = TestApp::spawn().await;
    let entry: Value = app
        .post_json("/v1/generations?wait=60", &crate::helpers::inpainting("x"))
        .await
        .json()
        .await
        .unwrap();
    let id = entry["id"].as_str().unwrap();
    let regenerate = |body: &'static str| {
        app.client
            .post(app.url(&format!("/v1/history/{id}/regenerate")))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let response = regenerate("null").await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let response = regenerate(r#"{"seed": 7.0}"#).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let response = regenerate(r#"{"seed": 7.5}"#).await.unwrap();
    assert_eq!(
        error_code(response, StatusCode::BAD_REQUEST).await,
        "invalid-json"
    );
    // Seeds every model takes, whichever made the entry (this one is Titan's, whose own
    // range goes further): the document cannot know the entry's model.
    let response = regenerate(r#"{"seed": 858993459}"#).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let response = regenerate(r#"{"seed": 858993460}"#).await.unwrap();
    assert_eq!(
        error_code(response, StatusCode::BAD_REQUEST).await,
        "invalid-seed"
    );
}

/// An upload's file name may have up to 1024 characters, however many bytes they take
/// (only a sanitized ASCII form goes into the key).
#[tokio::test]
async fn upload_file_names_are_measured_in_characters() {
    let app = TestApp::spawn_without_workers().await;
    let presign = |filename: String| {
        app.client
            .post(app.url("/v1/uploads"))
            .json(&json!({ "filename": filename, "contentType": "image/png" }))
            .send()
    };
    let response = presign(format!("{}.png", "é".repeat(1020))).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = presign(format!("{}.png", "é".repeat(1021))).await.unwrap();
    assert_eq!(
        error_code(response, StatusCode::BAD_REQUEST).await,
        "invalid-filename"
    );
}

/// The OpenAI routes' forms take field names of ASCII letters, digits, `_`, `.`, `-`,
/// `[` and `]` (the document's `propertyNames`); others are refused, not ignored.
#[tokio::test]
async fn openai_form_field_names_follow_the_documented_rule() {
    let app = TestApp::spawn_without_workers().await;
    let variation = |extra: &'static str| {
        let form = reqwest::multipart::Form::new()
            .part(
                "image",
                reqwest::multipart::Part::bytes(crate::helpers::png(64, 64)).file_name("image.png"),
            )
            .text("n", "0")
            .text(extra, "x");
        app.client
            .post(app.url("/v1/images/variations"))
            .multipart(form)
            .send()
    };
    // A known-good name reaches the options (`n` of 0 is what is refused).
    let body: Value = variation("user").await.unwrap().json().await.unwrap();
    assert_eq!(body["error"]["param"], "n", "{body}");
    let response = variation("not a name").await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is not a field name"),
        "{body}"
    );
}

/// The password policy's classes are Cognito's (ASCII letters and digits, Cognito's
/// symbols) and its length is counted in characters, so the document's pattern and
/// `maxLength` state it exactly.
#[tokio::test]
async fn passwords_follow_cognitos_classes_and_count_characters() {
    let app = TestApp::spawn_without_workers().await;
    let sign_up = |email: &'static str, password: String| {
        app.anonymous()
            .post(app.url("/v1/auth/sign-up"))
            .json(&json!({ "email": email, "password": password }))
            .send()
    };
    // `Ä` is no uppercase letter of the policy's.
    let response = sign_up("a@example.test", "Ässwörd1!".into()).await.unwrap();
    assert_eq!(
        error_code(response, StatusCode::BAD_REQUEST).await,
        "invalid-password"
    );
    // 256 characters (508 bytes) are taken; 257 are not.
    let long = format!("Aa1!{}", "é".repeat(252));
    let response = sign_up("b@example.test", long).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let longer = format!("Aa1!{}", "é".repeat(253));
    let response = sign_up("c@example.test", longer).await.unwrap();
    assert_eq!(
        error_code(response, StatusCode::BAD_REQUEST).await,
        "invalid-password"
    );
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let password = &doc["components"]["schemas"]["SignUp"]["properties"]["password"];
    assert_eq!(
        (&password["minLength"], &password["maxLength"]),
        (&json!(8), &json!(256))
    );
}

/// An outpainting canvas side smaller than the image's is the image's: any width and
/// height the document allows are taken, whatever the image's size.
#[tokio::test]
async fn an_outpainting_canvas_never_shrinks_the_image() {
    let app = TestApp::spawn().await;
    let mut body = crate::helpers::inpainting("sea");
    let params = body["inPaintingParams"].take();
    body.as_object_mut().unwrap().remove("inPaintingParams");
    body["taskType"] = json!("OUTPAINTING");
    body["outPaintingParams"] = params;
    body["imageGenerationConfig"] = json!({ "numberOfImages": 1, "width": 1, "height": 100 });
    let response = app.post_json("/v1/generations?wait=60", &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let entry: Value = response.json().await.unwrap();
    assert_eq!(entry["status"], "COMPLETED", "{entry}");
    let url = entry["images"][0]["url"].as_str().unwrap();
    let bytes = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    let image = image::load_from_memory(&bytes).unwrap();
    assert_eq!((image.width(), image.height()), (64, 100));
}

/// A callback URL's syntax is the document's pattern (`http(s)://host[:port][/path]
/// [?query]`, URL-safe ASCII): what the URL parser would repair is refused.
#[tokio::test]
async fn callback_urls_follow_the_documented_syntax() {
    let app = TestApp::spawn_without_workers().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let pattern = doc["components"]["schemas"]["CreateJob"]["properties"]["callbackUrl"]["pattern"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(pattern.starts_with("^https?://"), "{pattern}");
    let submit = |url: &'static str| {
        app.client
            .post(app.url("/v1/jobs"))
            .json(&json!({ "sources": ["missing.png"], "preset": "web", "callbackUrl": url }))
            .send()
    };
    for odd in [
        "HTTP://example.com/",
        "https://example.com/#part",
        " https://example.com/",
    ] {
        assert_eq!(
            error_code(submit(odd).await.unwrap(), StatusCode::BAD_REQUEST).await,
            "invalid-callback-url",
            "{odd}"
        );
    }
    // A good one passes the check (and the missing source is what is refused).
    let response = submit("https://example.com/hook?x=1").await.unwrap();
    let body: Value = response.json().await.unwrap();
    assert_ne!(body["error"]["code"], "invalid-callback-url", "{body}");
}
