//! The credential chain against files and environments made here.

use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn access_key(source: &CredentialSource) -> String {
    match source.current().unwrap() {
        Auth::SigV4(c) => c.access_key_id().to_owned(),
        Auth::Bearer(t) => format!("bearer {t}"),
    }
}

#[test]
fn the_ini_parser_reads_sections_and_skips_comments_and_nesting() {
    let ini = parse_ini(
        "# comment\n[default]\naws_access_key_id = AKID1\n; other\n\
         s3 =\n  max_concurrent_requests = 10\nregion=eu-west-3\n[profile  work ]\nregion = us-west-2\n",
    );
    assert_eq!(ini["default"]["aws_access_key_id"], "AKID1");
    assert_eq!(ini["default"]["region"], "eu-west-3");
    assert!(!ini["default"].contains_key("max_concurrent_requests"));
    assert_eq!(ini["profile work"]["region"], "us-west-2");
}

#[test]
fn settings_then_environment_then_files() {
    let dir = tempfile::tempdir().unwrap();
    let credentials = write(
        dir.path(),
        "credentials",
        "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = s\n\
         [work]\naws_access_key_id = AKIDWORK\naws_secret_access_key = s\naws_session_token = t\n",
    );
    let config = write(
        dir.path(),
        "config",
        "[profile cfgonly]\naws_access_key_id = AKIDCFG\naws_secret_access_key = s\nregion = ap-south-1\n\
         [profile sso]\nsso_session = corp\n",
    );
    let files = [
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            credentials.display().to_string(),
        ),
        ("AWS_CONFIG_FILE", config.display().to_string()),
    ];
    let env_with = |extra: Vec<(&'static str, &'static str)>| {
        let files = files.clone();
        move |name: &str| {
            extra
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
                .or_else(|| {
                    files
                        .iter()
                        .find(|(k, _)| *k == name)
                        .map(|(_, v)| v.clone())
                })
        }
    };
    let explicit = BedrockSettings {
        access_key_id: Some("AKIDSET".into()),
        secret_access_key: Some("s".into()),
        ..BedrockSettings::default()
    };
    let env = env_with(vec![
        ("AWS_ACCESS_KEY_ID", "AKIDENV"),
        ("AWS_SECRET_ACCESS_KEY", "s"),
    ]);
    assert_eq!(access_key(&resolve(&explicit, &env).unwrap()), "AKIDSET");
    let plain = BedrockSettings::default();
    assert_eq!(access_key(&resolve(&plain, &env).unwrap()), "AKIDENV");
    let env = env_with(vec![
        ("AWS_ACCESS_KEY_ID", "AKIDENV"),
        ("AWS_SECRET_ACCESS_KEY", "s"),
        ("AWS_BEARER_TOKEN_BEDROCK", "tok"),
    ]);
    assert_eq!(access_key(&resolve(&plain, &env).unwrap()), "bearer tok");

    let env = env_with(vec![]);
    assert_eq!(access_key(&resolve(&plain, &env).unwrap()), "AKIDFILE");
    let env = env_with(vec![("AWS_PROFILE", "work")]);
    let source = resolve(&plain, &env).unwrap();
    let Auth::SigV4(keys) = source.current().unwrap() else {
        panic!("keys expected")
    };
    assert_eq!(
        (keys.access_key_id(), keys.session_token()),
        ("AKIDWORK", Some("t"))
    );
    let cfg = BedrockSettings {
        profile: Some("cfgonly".into()),
        ..BedrockSettings::default()
    };
    assert_eq!(access_key(&resolve(&cfg, &env).unwrap()), "AKIDCFG");
    assert_eq!(profile_region(&cfg, &env).as_deref(), Some("ap-south-1"));
    let sso = BedrockSettings {
        profile: Some("sso".into()),
        ..BedrockSettings::default()
    };
    let err = resolve(&sso, &env).err().unwrap();
    assert!(err.contains("sso_session"), "{err}");
}

#[test]
fn half_given_keys_and_two_kinds_of_credentials_are_refused() {
    let env = |_: &str| None;
    let half = BedrockSettings {
        access_key_id: Some("AKID".into()),
        ..BedrockSettings::default()
    };
    assert!(resolve(&half, &env).err().unwrap().contains("together"));
    let both = BedrockSettings {
        access_key_id: Some("AKID".into()),
        secret_access_key: Some("s".into()),
        bearer_token: Some("tok".into()),
        ..BedrockSettings::default()
    };
    assert!(resolve(&both, &env).err().unwrap().contains("not both"));
}

#[test]
fn profile_files_are_read_again_for_each_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "credentials",
        "[default]\naws_access_key_id = OLD\naws_secret_access_key = s\n",
    );
    let shown = path.display().to_string();
    let env = move |name: &str| match name {
        "AWS_SHARED_CREDENTIALS_FILE" => Some(shown.clone()),
        "HOME" => Some("/nonexistent".into()),
        _ => None,
    };
    let source = resolve(&BedrockSettings::default(), &env).unwrap();
    assert_eq!(access_key(&source), "OLD");
    write(
        dir.path(),
        "credentials",
        "[default]\naws_access_key_id = NEW\naws_secret_access_key = s\n",
    );
    assert_eq!(access_key(&source), "NEW");
}
