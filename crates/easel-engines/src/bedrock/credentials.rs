//! Where the `bedrock` engine's credentials come from, in order: the settings, the
//! environment, the shared AWS files (`~/.aws/credentials`, `~/.aws/config`). A Bedrock
//! API key (bearer token) replaces SigV4 where it is found first. The shared files are
//! read again for every request, so keys rotated there (`aws sso login`,
//! `aws configure`) are picked up without a restart.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use aws_credential_types::Credentials;

use super::BedrockSettings;

/// How requests are authorised.
#[derive(Clone)]
pub(crate) enum Auth {
    /// SigV4 with these keys.
    SigV4(Credentials),
    /// `Authorization: Bearer <key>` (a Bedrock API key).
    Bearer(String),
}

/// Where the credentials are found on each request.
#[derive(Clone)]
pub(crate) enum CredentialSource {
    /// From the settings or the environment, fixed at start.
    Fixed(Auth),
    /// From a profile in the shared files, read again each time.
    Profile(ProfileFiles),
}

impl CredentialSource {
    /// The credentials to sign the next request with.
    pub fn current(&self) -> Result<Auth, String> {
        match self {
            CredentialSource::Fixed(auth) => Ok(auth.clone()),
            CredentialSource::Profile(files) => files.credentials(),
        }
    }

    /// Where they come from, for logs (no secret).
    pub fn describe(&self) -> String {
        match self {
            CredentialSource::Fixed(Auth::Bearer(_)) => "a Bedrock API key".to_owned(),
            CredentialSource::Fixed(Auth::SigV4(c)) => {
                format!("access key {}", c.access_key_id())
            }
            CredentialSource::Profile(files) => format!("profile `{}`", files.profile),
        }
    }
}

/// The shared credentials and config files and the profile to read.
#[derive(Debug, Clone)]
pub(crate) struct ProfileFiles {
    pub credentials_file: PathBuf,
    pub config_file: PathBuf,
    pub profile: String,
}

/// An environment to read variables from (the process's, or a test's).
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Finds the credentials: settings, then environment, then shared files.
pub(crate) fn resolve(
    settings: &BedrockSettings,
    env: Env<'_>,
) -> Result<CredentialSource, String> {
    if let Some(auth) = from_settings(settings)? {
        return Ok(CredentialSource::Fixed(auth));
    }
    if let Some(auth) = from_env(env)? {
        return Ok(CredentialSource::Fixed(auth));
    }
    let files = profile_files(settings, env);
    match files.credentials() {
        Ok(_) => Ok(CredentialSource::Profile(files)),
        Err(why) => Err(format!(
            "no credentials for the bedrock engine: looked at the settings (bearer_token, \
             bearer_token_file, access_key_id/secret_access_key), the environment \
             (AWS_BEARER_TOKEN_BEDROCK, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and the \
             shared files ({why})"
        )),
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

fn from_settings(settings: &BedrockSettings) -> Result<Option<Auth>, String> {
    let bearer = match (&settings.bearer_token, &settings.bearer_token_file) {
        (Some(_), Some(_)) => {
            return Err("bedrock: give one of `bearer_token` and `bearer_token_file`".into());
        }
        (Some(token), None) => non_empty(Some(token.clone())),
        (None, Some(path)) => Some(crate::http::secret_from_file(path, "bedrock.bearer_token")?),
        (None, None) => None,
    };
    let keys = keys(
        settings.access_key_id.clone(),
        settings.secret_access_key.clone(),
        settings.session_token.clone(),
        "settings",
        "`access_key_id` and `secret_access_key`",
    )?;
    match (bearer, keys) {
        (Some(_), Some(_)) => Err(
            "bedrock: give either `bearer_token` or `access_key_id`/`secret_access_key`, not both"
                .into(),
        ),
        (Some(token), None) => Ok(Some(Auth::Bearer(token))),
        (None, keys) => Ok(keys),
    }
}

fn from_env(env: Env<'_>) -> Result<Option<Auth>, String> {
    // As in the AWS SDKs, a Bedrock API key in the environment wins over keys there.
    if let Some(token) = non_empty(env("AWS_BEARER_TOKEN_BEDROCK")) {
        return Ok(Some(Auth::Bearer(token.trim().to_owned())));
    }
    keys(
        env("AWS_ACCESS_KEY_ID"),
        env("AWS_SECRET_ACCESS_KEY"),
        env("AWS_SESSION_TOKEN"),
        "environment",
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
    )
}

fn keys(
    id: Option<String>,
    secret: Option<String>,
    token: Option<String>,
    source: &'static str,
    names: &str,
) -> Result<Option<Auth>, String> {
    match (non_empty(id), non_empty(secret)) {
        (Some(id), Some(secret)) => Ok(Some(Auth::SigV4(Credentials::new(
            id.trim(),
            secret.trim(),
            non_empty(token).map(|t| t.trim().to_owned()),
            None,
            source,
        )))),
        (None, None) => Ok(None),
        _ => Err(format!(
            "bedrock: {names} must be given together ({source})"
        )),
    }
}

fn profile_files(settings: &BedrockSettings, env: Env<'_>) -> ProfileFiles {
    let home = non_empty(env("HOME"))
        .or_else(|| non_empty(env("USERPROFILE")))
        .map(PathBuf::from)
        .unwrap_or_default();
    let path = |var: &str, name: &str| {
        non_empty(env(var)).map_or_else(|| home.join(".aws").join(name), PathBuf::from)
    };
    ProfileFiles {
        credentials_file: path("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
        config_file: path("AWS_CONFIG_FILE", "config"),
        profile: non_empty(settings.profile.clone())
            .or_else(|| non_empty(env("AWS_PROFILE")))
            .unwrap_or_else(|| "default".to_owned()),
    }
}

impl ProfileFiles {
    /// The profile's keys: the credentials file's `[name]` first, then the config
    /// file's `[profile name]` (`[default]` for the default profile).
    pub fn credentials(&self) -> Result<Auth, String> {
        let credentials = read_ini(&self.credentials_file)?;
        let config = read_ini(&self.config_file)?;
        let sections = [
            credentials.as_ref().and_then(|c| c.get(&self.profile)),
            config.as_ref().and_then(|c| c.get(&self.config_section())),
        ];
        for section in sections.into_iter().flatten() {
            let key = |k: &str| section.get(k).cloned();
            if let Some(auth) = keys(
                key("aws_access_key_id"),
                key("aws_secret_access_key"),
                key("aws_session_token"),
                "profile",
                "aws_access_key_id and aws_secret_access_key",
            )? {
                return Ok(auth);
            }
            let unsupported = [
                "role_arn",
                "sso_session",
                "sso_start_url",
                "credential_process",
            ];
            if let Some(kind) = unsupported.iter().find(|k| section.contains_key(**k)) {
                return Err(format!(
                    "profile `{}` uses `{kind}`, which Easel does not support; give keys \
                     (e.g. from `aws configure export-credentials --format env`)",
                    self.profile
                ));
            }
        }
        Err(format!(
            "profile `{}` has no aws_access_key_id/aws_secret_access_key in {} ({}) or {} ({}); \
             the profile comes from the `profile` setting, AWS_PROFILE or `default`, the files \
             from AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE or ~/.aws",
            self.profile,
            self.credentials_file.display(),
            found(&credentials),
            self.config_file.display(),
            found(&config),
        ))
    }

    /// The profile's `region` in the config file, if any.
    pub fn region(&self) -> Option<String> {
        let config = read_ini(&self.config_file).ok()??;
        non_empty(config.get(&self.config_section())?.get("region").cloned())
    }

    fn config_section(&self) -> String {
        if self.profile == "default" {
            "default".to_owned()
        } else {
            format!("profile {}", self.profile)
        }
    }
}

/// The profile lookup used for the region when credentials come from elsewhere.
pub(crate) fn profile_region(settings: &BedrockSettings, env: Env<'_>) -> Option<String> {
    profile_files(settings, env).region()
}

fn found(file: &Option<Ini>) -> &'static str {
    if file.is_some() { "read" } else { "not found" }
}

type Ini = HashMap<String, HashMap<String, String>>;

/// Reads an INI file; `None` when it does not exist.
fn read_ini(path: &Path) -> Result<Option<Ini>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(parse_ini(&text))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{} could not be read: {e}", path.display())),
    }
}

/// The AWS flavour of INI: `[section]`, `key = value`, `#`/`;` comment lines, and
/// nested properties (a key with no value followed by indented lines), which are skipped.
pub(crate) fn parse_ini(text: &str) -> Ini {
    let mut sections = Ini::new();
    let mut current: Option<String> = None;
    let mut nested = false;
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if nested && raw.starts_with(char::is_whitespace) {
            continue;
        }
        nested = false;
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            sections.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        let (Some(section), Some((key, value))) = (&current, line.split_once('=')) else {
            continue;
        };
        let value = value.trim();
        nested = value.is_empty();
        sections
            .entry(section.clone())
            .or_default()
            .insert(key.trim().to_ascii_lowercase(), value.to_owned());
    }
    sections
}

#[cfg(test)]
mod tests;
