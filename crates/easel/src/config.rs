//! Easel's configuration: typed sections with documented defaults, layered as
//! defaults → TOML file (`--config`) → `EASEL__SECTION__KEY` environment → command-line
//! flags. `easel.example.toml` at the repository root documents every field.

mod auth;
mod blobs;
mod database;
mod detection;
mod generation;
mod image_moderation;

pub use blobs::BlobBackend;
pub use database::{Database, redact};
pub use detection::{DetectionConfig, ModelEntry};
pub use image_moderation::ImageModerationConfig;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use easel_image::{Limits, Pipeline};
use easel_services::usage::Plan;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

pub use auth::{AuthConfig, CorsConfig, LockoutConfig, default_plans};
pub use generation::{EnginesConfig, GenerationConfig, ModerationConfig};

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The HTTP server.
    pub server: ServerConfig,
    /// Where data lives and what may be uploaded.
    pub storage: StorageConfig,
    /// Presigned URL keys and lifetimes.
    pub presign: PresignConfig,
    /// The key that seals the deployment's secrets in the database.
    pub secrets: SecretsConfig,
    /// The durable queue.
    pub queue: QueueConfig,
    /// In-process and standalone workers.
    pub workers: WorkersConfig,
    /// Job submission rules.
    pub jobs: JobsConfig,
    /// Logging.
    pub log: LogConfig,
    /// Limits applied to every image.
    pub limits: Limits,
    /// Named pipelines, added to (or replacing) the built-in `thumbnail` and `web`.
    pub presets: BTreeMap<String, Pipeline>,
    /// Upload triggers: a finished upload under `prefix` enqueues a job.
    pub triggers: Vec<TriggerConfig>,
    /// Identity: users, tokens, external issuers, sign-in throttle.
    pub auth: AuthConfig,
    /// Usage plans by name (rate, burst, quotas per class); `default` is built in.
    pub plans: BTreeMap<String, Plan>,
    /// Cross-origin requests from browsers.
    pub cors: CorsConfig,
    /// Generation and editing: styles, moderation, retention, waits.
    pub generation: GenerationConfig,
    /// Which engines run, and provider settings.
    pub engines: EnginesConfig,
    /// Object detection models.
    pub detection: DetectionConfig,
    /// Moderation of generated images and process outputs with a detection model.
    pub image_moderation: ImageModerationConfig,
    /// Webhooks (`callbackUrl`) of jobs and generations.
    pub webhooks: WebhooksConfig,
    /// Alarm rules: `[[alarms]]`.
    pub alarms: Vec<AlarmConfig>,
    /// Outbound e-mail over SMTP.
    pub email: EmailConfig,
}

/// `[email]`: the SMTP server mail goes through. Without `smtp_url`, e-mail is off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailConfig {
    /// `smtp://host:port` (STARTTLS: when the server offers it, or always when there are
    /// credentials), `smtp://…?tls=required|opportunistic` to choose, or
    /// `smtps://host:port` (TLS from the start); credentials as `smtp://user:password@host`
    /// or `password_file`.
    pub smtp_url: Option<String>,
    /// A file holding the SMTP password (instead of one in the URL).
    pub password_file: Option<PathBuf>,
    /// The sender, e.g. `Easel <easel@example.com>`.
    pub from: Option<String>,
    /// How long before a generated image's 24-hour link expires the holders who asked
    /// are reminded, in seconds (1 to 86 399). Default 3600.
    pub link_expiry_lead_secs: i64,
    /// How often each process looks for reminders and weekly summaries to send, in
    /// seconds. Default 60.
    pub notify_interval_secs: u64,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            smtp_url: None,
            password_file: None,
            from: None,
            link_expiry_lead_secs: 3_600,
            notify_interval_secs: 60,
        }
    }
}

impl EmailConfig {
    /// The sending side, or `None` when e-mail is off.
    pub fn settings(&self) -> anyhow::Result<Option<easel_worker::EmailSettings>> {
        let Some(url) = &self.smtp_url else {
            return Ok(None);
        };
        let from = self
            .from
            .as_deref()
            .context("email.from is needed with email.smtp_url")?
            .parse()
            .map_err(|e| anyhow::anyhow!("email.from is not an address: {e}"))?;
        // `smtp://` means STARTTLS: required when there are credentials (never sent in
        // the clear), else used when the server offers it; `?tls=…` or `smtps://` choose.
        let mut parsed =
            url::Url::parse(url).map_err(|e| anyhow::anyhow!("email.smtp_url: {e}"))?;
        if parsed.scheme() == "smtp" && !parsed.query_pairs().any(|(k, _)| k == "tls") {
            let secret = parsed.password().is_some() || self.password_file.is_some();
            let mode = if secret { "required" } else { "opportunistic" };
            parsed.query_pairs_mut().append_pair("tls", mode);
        }
        // Installing fails only when a provider is already installed, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder =
            lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(parsed.as_str())
                .map_err(|e| anyhow::anyhow!("email.smtp_url: {e}"))?
                .timeout(Some(std::time::Duration::from_secs(30)));
        if let Some(file) = &self.password_file {
            let password = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let user = url::Url::parse(url)
                .map(|u| u.username().to_owned())
                .unwrap_or_default();
            builder =
                builder.credentials(lettre::transport::smtp::authentication::Credentials::new(
                    user,
                    password.trim().to_owned(),
                ));
        }
        Ok(Some(easel_worker::EmailSettings {
            transport: builder.build(),
            from,
        }))
    }
}

/// `[[alarms]]`: one rule, CloudWatch-style.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmConfig {
    /// Unique name.
    pub name: String,
    /// `dead_jobs`, `failed_job_ratio`, `timeouts`, `queue_depth`,
    /// `oldest_pending_seconds`, `generation_latency_p99_ms`, `http_5xx_ratio` or
    /// `http_4xx_ratio`.
    pub metric: String,
    /// The threshold.
    pub threshold: f64,
    /// `greater_than` (default), `greater_or_equal`, `less_than` or `less_or_equal`.
    #[serde(default = "default_comparison")]
    pub comparison: String,
    /// The period, in seconds. Default 60.
    #[serde(default = "default_period")]
    pub period_secs: u64,
    /// How many recent periods are looked at. Default 1.
    #[serde(default = "default_one")]
    pub evaluation_periods: u32,
    /// How many of them must breach for ALARM. Default: all of them.
    #[serde(default)]
    pub datapoints_to_alarm: Option<u32>,
    /// Webhook URLs told of changes into and out of ALARM.
    #[serde(default)]
    pub notify: Vec<String>,
    /// E-mail addresses told of the same changes (needs `[email]`).
    #[serde(default)]
    pub notify_email: Vec<String>,
}

fn default_comparison() -> String {
    "greater_than".to_owned()
}

fn default_period() -> u64 {
    60
}

fn default_one() -> u32 {
    1
}

impl AlarmConfig {
    /// The rule, checked.
    pub fn rule(
        &self,
        webhooks: &WebhooksConfig,
    ) -> anyhow::Result<easel_services::alarms::AlarmRule> {
        let at = |what: String| anyhow::anyhow!("alarms `{}`: {what}", self.name);
        let metric = self.metric.parse().map_err(at)?;
        let comparison = self.comparison.parse().map_err(at)?;
        if self.period_secs == 0 || self.evaluation_periods == 0 {
            return Err(at(
                "period_secs and evaluation_periods must be at least 1".into()
            ));
        }
        let n = self.datapoints_to_alarm.unwrap_or(self.evaluation_periods);
        if n == 0 || n > self.evaluation_periods {
            return Err(at(format!(
                "datapoints_to_alarm must be 1 to evaluation_periods ({})",
                self.evaluation_periods
            )));
        }
        if !self.threshold.is_finite() {
            return Err(at("threshold must be a number".into()));
        }
        for url in &self.notify {
            webhooks.policy().check_url(url).map_err(at)?;
        }
        for address in &self.notify_email {
            address
                .parse::<lettre::Address>()
                .map_err(|e| at(format!("`{address}` is not an e-mail address: {e}")))?;
        }
        Ok(easel_services::alarms::AlarmRule {
            name: self.name.clone(),
            metric,
            threshold: self.threshold,
            comparison,
            period_ms: (self.period_secs * 1000) as i64,
            evaluation_periods: self.evaluation_periods,
            datapoints_to_alarm: n,
            notify: self.notify.clone(),
            notify_email: self.notify_email.clone(),
        })
    }
}

/// `[webhooks]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Allow callback URLs on private, loopback and link-local addresses (receivers on
    /// the deployment's own network). Default false: refused, against SSRF.
    pub allow_private: bool,
    /// Attempts per delivery, with the queue's backoff between them. Default 8.
    pub max_attempts: u32,
    /// How long one attempt may take, in seconds. Default 10.
    pub timeout_secs: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            allow_private: false,
            max_attempts: 8,
            timeout_secs: 10,
        }
    }
}

impl WebhooksConfig {
    /// The address policy.
    pub fn policy(&self) -> easel_core::WebhookPolicy {
        easel_core::WebhookPolicy {
            allow_private: self.allow_private,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerConfig::default(),
            storage: StorageConfig::default(),
            presign: PresignConfig::default(),
            secrets: SecretsConfig::default(),
            queue: QueueConfig::default(),
            workers: WorkersConfig::default(),
            jobs: JobsConfig::default(),
            log: LogConfig::default(),
            limits: Limits::default(),
            presets: BTreeMap::new(),
            triggers: Vec::new(),
            auth: AuthConfig::default(),
            plans: default_plans(),
            cors: CorsConfig::default(),
            generation: GenerationConfig::default(),
            engines: EnginesConfig::default(),
            detection: DetectionConfig::default(),
            image_moderation: ImageModerationConfig::default(),
            webhooks: WebhooksConfig::default(),
            alarms: Vec::new(),
            email: EmailConfig::default(),
        }
    }
}

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on. Default `127.0.0.1:8080`.
    pub bind: SocketAddr,
    /// Base URL clients reach this server at, used in presigned URLs
    /// (default: `http://` + the bound address).
    pub public_url: Option<String>,
    /// Largest JSON request body, in bytes. Default 1 MiB.
    pub max_json_bytes: usize,
    /// Longest a request may take (uploads and event streams excepted), in seconds. Default 30.
    pub request_timeout_secs: u64,
    /// Longest a client may take to send a request's headers, in seconds; slower
    /// connections are closed (slowloris). Default 10.
    pub header_read_timeout_secs: u64,
    /// Most connections open at once; further ones are closed on accept. Default 10000.
    pub max_connections: usize,
    /// Most job event streams (`GET /v1/jobs/{id}/events`) one principal may hold open
    /// at once on this process; more answer 429 `too-many-streams`. Default 64.
    pub max_streams_per_principal: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            max_json_bytes: 1 << 20,
            request_timeout_secs: 30,
            header_read_timeout_secs: 10,
            max_connections: 10_000,
            max_streams_per_principal: 64,
        }
    }
}

/// `[storage]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Directory for the SQLite database and the objects. Default `./easel-data`.
    pub data_dir: PathBuf,
    /// The metadata database (jobs, queue, accounts, keys, usage): `sqlite://PATH`, or
    /// `postgres://USER:PASSWORD@HOST:PORT/DB` for PostgreSQL (many Easel processes on
    /// one database). Default: the SQLite file `<data_dir>/easel.db`.
    pub database_url: Option<String>,
    /// Most connections a process opens to PostgreSQL. Default 10.
    pub database_max_connections: u32,
    /// Largest upload, in bytes. Default 50 MiB.
    pub max_upload_bytes: u64,
    /// MIME types that may be uploaded. Default: JPEG, PNG, WebP, GIF, HEIC/HEIF (the
    /// iPhone's photo format) and AVIF.
    pub upload_content_types: Vec<String>,
    /// Where object bytes live: `file://PATH`, or
    /// `s3://BUCKET?endpoint=…&region=…&path_style=true` for S3 or an S3-compatible
    /// store (clients then upload and download straight to and from it). Env:
    /// `EASEL__STORAGE__BLOBS_URL`. Default: the directory `<data_dir>/objects`.
    pub blobs_url: Option<String>,
    /// S3 access key id; absent: found as AWS tools find it (`AWS_ACCESS_KEY_ID`, web
    /// identity, instance role).
    pub s3_access_key_id: Option<String>,
    /// S3 secret access key (or `s3_secret_access_key_file`).
    pub s3_secret_access_key: Option<String>,
    /// A file holding the S3 secret access key (a mounted secret).
    pub s3_secret_access_key_file: Option<PathBuf>,
    /// The session token of temporary S3 credentials.
    pub s3_session_token: Option<String>,
    /// The shared secret the object store's event notifications carry
    /// (`POST /v1/storage/events`); absent: that route answers 404.
    pub events_token: Option<String>,
    /// How often each process looks for uploads nobody reported, in seconds. Default 30.
    pub reconcile_interval_secs: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("./easel-data"),
            database_url: None,
            database_max_connections: 10,
            blobs_url: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_secret_access_key_file: None,
            s3_session_token: None,
            events_token: None,
            reconcile_interval_secs: 30,
            max_upload_bytes: 50 << 20,
            upload_content_types: [
                "image/jpeg",
                "image/png",
                "image/webp",
                "image/gif",
                "image/heic",
                "image/heif",
                "image/avif",
            ]
            .map(str::to_owned)
            .to_vec(),
        }
    }
}

/// `[secrets]`: the token signing keys, the generated presign key and the access-key
/// secret live in the metadata database, shared by every process; with a key here
/// they are sealed there (ChaCha20-Poly1305).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsConfig {
    /// 64 hexadecimal characters (32 bytes), e.g. `openssl rand -hex 32`. Env:
    /// `EASEL__SECRETS__KEY`. Once secrets are sealed, every process needs it.
    pub key: Option<String>,
    /// A file holding the key instead (a mounted secret).
    pub key_file: Option<PathBuf>,
}

/// `[presign]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PresignConfig {
    /// Signing keys, newest first: the first signs, all verify (rotation). When empty, a
    /// key is generated on first start and kept in the metadata database.
    pub keys: Vec<PresignKeyConfig>,
    /// Lifetime of upload URLs, in seconds. Default 900.
    pub upload_ttl_secs: i64,
}

impl Default for PresignConfig {
    fn default() -> Self {
        PresignConfig {
            keys: Vec::new(),
            upload_ttl_secs: 900,
        }
    }
}

/// One `[[presign.keys]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresignKeyConfig {
    /// Short public name, shown in URLs.
    pub id: String,
    /// The secret, at least 32 characters.
    #[serde(default)]
    pub secret: Option<String>,
    /// A file holding the secret, instead of `secret`.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

/// `[queue]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Lease (visibility timeout) of a claimed job, in seconds; heartbeats renew it. Default 300.
    pub lease_secs: u64,
    /// Attempts before a job is dead (FAILED, error kept). Default 3.
    pub max_attempts: u32,
    /// First retry delay, in milliseconds; doubles per attempt, with jitter. Default 1000.
    pub backoff_base_ms: u64,
    /// Longest retry delay, in milliseconds. Default 300 000.
    pub backoff_max_ms: u64,
    /// Days a finished job (completed, failed, cancelled) is kept before it is deleted,
    /// so the jobs table does not grow forever; 0 keeps them. Generations stay until
    /// their outputs' retention (`generation.retention_days`) has removed them. Their
    /// outputs are not deleted with them. Default 30.
    pub finished_retention_days: u32,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            lease_secs: 300,
            max_attempts: 3,
            backoff_base_ms: 1_000,
            backoff_max_ms: 300_000,
            finished_retention_days: 30,
        }
    }
}

/// `[workers]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkersConfig {
    /// Run workers inside `easel serve`. Default true; set false when `easel worker`
    /// processes do the work.
    pub in_process: bool,
    /// Workers per process: images decoded, transformed and encoded at once; 0 means the
    /// number of cores. Default 0.
    pub count: usize,
    /// Jobs claimed and in progress at once per process; 0 means 16 × `count`. Image
    /// jobs are further bounded by `count` images in CPU work and 4 × `count` source
    /// images held in memory, so this mostly lets waiting jobs (provider calls, no-ops)
    /// overlap. Default 0.
    pub in_flight: usize,
    /// Longest wait between looks at the queue, in milliseconds (matters for jobs
    /// submitted through another process). Default 500.
    pub poll_interval_ms: u64,
    /// How long running jobs may finish after a shutdown signal, in seconds. Default 30.
    pub shutdown_grace_secs: u64,
}

impl Default for WorkersConfig {
    fn default() -> Self {
        WorkersConfig {
            in_process: true,
            count: 0,
            in_flight: 0,
            poll_interval_ms: 500,
            shutdown_grace_secs: 30,
        }
    }
}

/// `[jobs]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    /// Most source images in one job. Default 100.
    pub max_sources: usize,
    /// The preset that the seed route `POST /process` applies. Default `web-detect`
    /// (`web`, with the default detection model's objects when one is installed).
    pub seed_preset: String,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            max_sources: 100,
            seed_preset: "web-detect".to_owned(),
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `auto` (human-readable on a terminal, JSON otherwise), `json` or `pretty`.
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `easel=debug,info`. Default `info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Auto,
            level: "info".to_owned(),
        }
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable on a terminal, JSON otherwise.
    Auto,
    /// One JSON object per line.
    Json,
    /// Human-readable.
    Pretty,
}

/// One `[[triggers]]` rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerConfig {
    /// Key prefix the rule matches, e.g. `uploads/photos/`.
    pub prefix: String,
    /// A preset to run.
    #[serde(default)]
    pub preset: Option<String>,
    /// An inline pipeline to run, instead of a preset.
    #[serde(default)]
    pub pipeline: Option<Pipeline>,
}

/// Values given on the command line, applied last.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    /// `--bind`
    pub bind: Option<SocketAddr>,
    /// `--data-dir`
    pub data_dir: Option<PathBuf>,
    /// `--database-url`
    pub database_url: Option<String>,
    /// `--log-format`
    pub log_format: Option<LogFormat>,
}

impl Config {
    /// Loads the layered configuration. An explicitly named file must exist.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.is_file() {
                bail!("the configuration file {} does not exist", file.display());
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment.merge(Env::prefixed("EASEL__").split("__"));
        if let Some(bind) = overrides.bind {
            figment = figment.merge(Serialized::default("server.bind", bind));
        }
        if let Some(url) = &overrides.database_url {
            figment = figment.merge(Serialized::default("storage.database_url", url));
        }
        if let Some(dir) = &overrides.data_dir {
            figment = figment.merge(Serialized::default("storage.data_dir", dir));
        }
        if let Some(format) = overrides.log_format {
            figment = figment.merge(Serialized::default("log.format", format));
        }
        let config: Config = figment
            .extract()
            .map_err(|e| anyhow::anyhow!(describe(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Parses a TOML document over the defaults (no environment), for tests and checks.
    pub fn from_toml(text: &str) -> anyhow::Result<Config> {
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(text))
            .extract()
            .map_err(|e| anyhow::anyhow!(describe(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// The built-in presets overlaid with the configured ones.
    pub fn all_presets(&self) -> BTreeMap<String, Pipeline> {
        let mut presets = easel_image::builtin_presets();
        presets.extend(self.presets.clone());
        presets
    }

    /// Cross-field checks that types alone cannot express.
    fn validate(&self) -> anyhow::Result<()> {
        self.storage.database()?;
        self.image_moderation.validate()?;
        if self.webhooks.max_attempts == 0 || self.webhooks.timeout_secs == 0 {
            bail!("webhooks.max_attempts and webhooks.timeout_secs must be at least 1");
        }
        self.email.settings()?;
        if !(1..86_400).contains(&self.email.link_expiry_lead_secs) {
            bail!("email.link_expiry_lead_secs must be between 1 and 86399");
        }
        if self.email.smtp_url.is_none() && self.alarms.iter().any(|a| !a.notify_email.is_empty()) {
            bail!("alarms with notify_email need [email] smtp_url and from");
        }
        let mut names = std::collections::HashSet::new();
        for alarm in &self.alarms {
            alarm.rule(&self.webhooks)?;
            if !names.insert(alarm.name.as_str()) {
                bail!("alarms: the name `{}` is used twice", alarm.name);
            }
        }
        if self.storage.database_max_connections == 0 {
            bail!("storage.database_max_connections must be at least 1");
        }
        crate::secrets::secret_box(self)?;
        let presets = self.all_presets();
        for (name, pipeline) in &presets {
            pipeline
                .validate(&self.limits)
                .with_context(|| format!("preset `{name}`"))?;
        }
        if !presets.contains_key(&self.jobs.seed_preset) {
            bail!(
                "jobs.seed_preset names `{}`, which is not a preset",
                self.jobs.seed_preset
            );
        }
        for (i, rule) in self.triggers.iter().enumerate() {
            if !rule.prefix.starts_with("uploads/") {
                bail!(
                    "triggers[{i}].prefix must start with `uploads/` (got `{}`)",
                    rule.prefix
                );
            }
            match (&rule.preset, &rule.pipeline) {
                (Some(name), None) if !presets.contains_key(name) => {
                    bail!("triggers[{i}].preset names `{name}`, which is not a preset")
                }
                (Some(_), None) => {}
                (None, Some(pipeline)) => pipeline
                    .validate(&self.limits)
                    .with_context(|| format!("triggers[{i}].pipeline"))?,
                _ => bail!("triggers[{i}] needs exactly one of `preset` and `pipeline`"),
            }
        }
        for (i, key) in self.presign.keys.iter().enumerate() {
            if key.secret.is_some() == key.secret_file.is_some() {
                bail!("presign.keys[{i}] needs exactly one of `secret` and `secret_file`");
            }
            if key.id.is_empty()
                || !key
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                bail!("presign.keys[{i}].id must be letters, digits, `-` or `_`");
            }
        }
        if self.queue.max_attempts == 0 {
            bail!("queue.max_attempts must be at least 1");
        }
        if self.queue.lease_secs == 0 {
            bail!("queue.lease_secs must be at least 1");
        }
        if !(60..=604_800).contains(&self.presign.upload_ttl_secs) {
            bail!("presign.upload_ttl_secs must be between 60 and 604800");
        }
        self.auth
            .validate(&self.plans, &self.cors, self.server.bind)?;
        self.generation.settings()?;
        self.engines.build(&self.storage.data_dir)?;
        Ok(())
    }

    /// A copy with every secret replaced by `***`, for display.
    pub fn masked(&self) -> Config {
        let mut copy = self.clone();
        copy.engines = self.engines.masked();
        copy.storage.database_url = self.storage.database_url.as_deref().map(redact);
        if copy.secrets.key.is_some() {
            copy.secrets.key = Some("***".to_owned());
        }
        for key in &mut copy.presign.keys {
            if key.secret.is_some() {
                key.secret = Some("***".to_owned());
            }
        }
        copy
    }
}

fn describe(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses_and_means_what_it_says() {
        let text = include_str!("../../../easel.example.toml");
        let config = Config::from_toml(text).unwrap();
        assert_eq!(config.triggers.len(), 1);
        assert_eq!(config.triggers[0].prefix, "uploads/photos/");
        assert!(config.all_presets().contains_key("avatar"));
        assert!(config.all_presets().contains_key("web"));
        assert_eq!(config.auth.lockout.threshold, 5);
        assert_eq!(config.plans["free"].burst, 5);
        let free = &config.plans["free"].quotas[&easel_core::OpClass::Generate];
        assert_eq!(free.day, Some(10));
        assert!(config.plans.contains_key("default"));
        assert_eq!(
            config.storage.upload_content_types,
            StorageConfig::default().upload_content_types,
            "the example lists the default upload types"
        );
        assert_eq!(config.storage.reconcile_interval_secs, 30);
        let nudenet = &config.detection.models["nudenet"];
        assert_eq!(nudenet.path, PathBuf::from("./models/320n.onnx"));
        assert_eq!((nudenet.labels.as_ref(), nudenet.input_size), (None, None));
        assert!(matches!(
            config.storage.blob_backend().unwrap(),
            BlobBackend::Filesystem(_)
        ));
    }

    #[test]
    fn auth_rules_are_enforced_at_load() {
        let refused = [
            "[auth]\nmode = \"none\"\n[server]\nbind = \"0.0.0.0:8080\"",
            "[auth]\ntoken_ttl_secs = 60",
            "[auth]\ntoken_ttl_secs = 100000",
            "[auth]\ndefault_plan = \"gold\"",
            "[cors]\nallowed_origins = [\"*\"]\nallow_credentials = true",
            "[plans.bad]\nrate_per_sec = 0.0\nburst = 1",
        ];
        for text in refused {
            assert!(Config::from_toml(text).is_err(), "{text}");
        }
        let local =
            Config::from_toml("[auth]\nmode = \"none\"\n[server]\nbind = \"127.0.0.1:9000\"");
        assert!(local.is_ok());
        assert!(Config::from_toml("[cors]\nallowed_origins = [\"*\"]").is_ok());
    }

    #[test]
    fn defaults_are_documented_values() {
        let config = Config::from_toml("").unwrap();
        assert_eq!(config.server.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(config.storage.data_dir, PathBuf::from("./easel-data"));
        assert_eq!(config.queue.max_attempts, 3);
        assert_eq!(config.queue.lease_secs, 300);
    }

    #[test]
    fn unknown_keys_and_bad_rules_are_refused() {
        assert!(Config::from_toml("[server]\nbindd = \"x\"").is_err());
        assert!(Config::from_toml("[[triggers]]\nprefix = \"uploads/a/\"").is_err());
        assert!(Config::from_toml("[[triggers]]\nprefix = \"other/\"\npreset = \"web\"").is_err());
        assert!(
            Config::from_toml("[[triggers]]\nprefix = \"uploads/a/\"\npreset = \"nope\"").is_err()
        );
        assert!(Config::from_toml("[presets.bad]\nops = [{ op = \"explode\" }]").is_err());
    }

    #[test]
    fn secrets_are_masked() {
        let config = Config::from_toml(
            "[[presign.keys]]\nid = \"k1\"\nsecret = \"0123456789abcdef0123456789abcdef\"",
        )
        .unwrap();
        let shown = toml::to_string(&config.masked()).unwrap();
        assert!(!shown.contains("0123456789abcdef"));
        assert!(shown.contains("***"));
    }

    #[test]
    fn provider_engines_are_built_in_order_with_secrets_masked() {
        let config = Config::from_toml(
            r#"
[engines]
order = ["openai", "classic"]
[engines.openai]
base_url = "http://127.0.0.1:9/v1"
api_key = "sk-very-secret-key"
[generation.moderation]
deny = ["gore"]
"#,
        )
        .unwrap();
        let engines = config
            .engines
            .build(std::path::Path::new("unused"))
            .unwrap();
        let names: Vec<&str> = engines.all().iter().map(|e| e.name()).collect();
        // The diffusion engine (on by default where compiled in) comes after the listed.
        if cfg!(feature = "diffusion") {
            assert_eq!(names, ["openai", "classic", "diffusion"]);
        } else {
            assert_eq!(names, ["openai", "classic"]);
        }
        let off = Config::from_toml("[engines.diffusion]\nenabled = false").unwrap();
        let names: Vec<String> = off
            .engines
            .build(std::path::Path::new("unused"))
            .unwrap()
            .all()
            .iter()
            .map(|e| e.name().to_owned())
            .collect();
        assert_eq!(names, ["classic"]);
        let typo = Config::from_toml("[engines.diffusion]\nmodle = \"x\"").unwrap_err();
        assert!(typo.to_string().contains("[engines.diffusion]"), "{typo}");
        let shown = toml::to_string(&config.masked()).unwrap();
        assert!(!shown.contains("sk-very-secret-key"), "{shown}");
        assert!(shown.contains("***"));

        let unknown = Config::from_toml("[engines]\norder = [\"bedrock\"]").unwrap_err();
        assert!(unknown.to_string().contains("not configured"), "{unknown}");
        let typo = Config::from_toml("[engines.openai]\nbase_ulr = \"x\"").unwrap_err();
        assert!(typo.to_string().contains("[engines.openai]"), "{typo}");
        let pattern = Config::from_toml("[generation.moderation]\npatterns = [\"(\"]").unwrap_err();
        assert!(
            pattern
                .to_string()
                .contains("not a valid regular expression"),
            "{pattern}"
        );
    }
}
