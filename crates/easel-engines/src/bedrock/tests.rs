//! The engine's setup from settings and an environment given here.

use super::*;

fn env_of(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

#[test]
fn region_and_endpoint_follow_settings_then_environment() {
    let env = env_of(&[
        ("AWS_ACCESS_KEY_ID", "AKIDENV"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_DEFAULT_REGION", "eu-central-1"),
        ("HOME", "/nonexistent"),
    ]);
    let engine = BedrockEngine::with_env(BedrockSettings::default(), &env).unwrap();
    assert_eq!(engine.region(), "eu-central-1");
    assert_eq!(
        engine.invoke_url(TITAN_IMAGE_V2),
        "https://bedrock-runtime.eu-central-1.amazonaws.com/model/amazon.titan-image-generator-v2%3A0/invoke"
    );
    let settings = BedrockSettings {
        region: Some("us-west-2".into()),
        endpoint: Some("http://127.0.0.1:8080/".into()),
        ..BedrockSettings::default()
    };
    let engine = BedrockEngine::with_env(settings, &env).unwrap();
    assert_eq!(engine.region(), "us-west-2");
    assert_eq!(
        engine
            .invoke_url("arn:aws:bedrock:us-west-2:1:inference-profile/us.amazon.nova-canvas-v1:0"),
        "http://127.0.0.1:8080/model/arn%3Aaws%3Abedrock%3Aus-west-2%3A1%3Ainference-profile%2Fus.amazon.nova-canvas-v1%3A0/invoke"
    );
    let env = env_of(&[
        ("AWS_BEARER_TOKEN_BEDROCK", "tok"),
        ("HOME", "/nonexistent"),
    ]);
    let engine = BedrockEngine::with_env(BedrockSettings::default(), &env).unwrap();
    assert_eq!(engine.region(), "us-east-1");
}

#[test]
fn missing_credentials_say_where_they_were_looked_for() {
    let env = env_of(&[("HOME", "/nonexistent")]);
    let err = BedrockEngine::with_env(BedrockSettings::default(), &env).unwrap_err();
    for place in [
        "AWS_ACCESS_KEY_ID",
        "AWS_BEARER_TOKEN_BEDROCK",
        "/nonexistent/.aws/credentials",
        "/nonexistent/.aws/config",
        "profile `default`",
    ] {
        assert!(err.0.contains(place), "{place} missing from: {err}");
    }
}

#[test]
fn debug_output_hides_secrets() {
    let settings = BedrockSettings {
        access_key_id: Some("AKIDVISIBLE".into()),
        secret_access_key: Some("very-secret-key".into()),
        session_token: Some("very-secret-token".into()),
        bearer_token: None,
        ..BedrockSettings::default()
    };
    let shown = format!("{settings:?}");
    assert!(shown.contains("AKIDVISIBLE"));
    assert!(!shown.contains("very-secret"));
    let engine = BedrockEngine::new(settings).unwrap();
    assert!(!format!("{engine:?}").contains("very-secret"));
    let bearer = BedrockSettings {
        bearer_token: Some("very-secret-bearer".into()),
        ..BedrockSettings::default()
    };
    assert!(!format!("{bearer:?}").contains("very-secret"));
}
