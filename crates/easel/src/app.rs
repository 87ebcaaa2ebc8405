//! Startup you can test: [`Application::build`] opens the stores, binds the listener
//! (port 0 in tests) and starts the in-process workers; [`Application::run_until_stopped`]
//! serves until the shutdown token fires, then drains gracefully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use easel_api::{ApiSettings, AppState};
use easel_core::JobStatus;
use easel_detect::DetectionModels;
use easel_engines::Engines;
use easel_services::identity::{AuthMode, EmailVerification, KeyRing, Tokens};
use easel_services::ingest::{TriggerRule, UploadSettings};
use easel_services::jobs::JobSettings;
use easel_services::mail::Mailer;
use easel_services::notices::{NoticePorts, NoticeSettings, Notices};
use easel_services::{Ports, Services, ServicesSettings};
use easel_store::{
    Blobs, Job, MetadataStore, PgOptions, Presigner, SqliteStore, UrlSigner, Wakeups,
};
use easel_worker::{
    JobEndings, WebhookSettings, WorkerDeps, WorkerPool, WorkerSettings, spawn_workers,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Database};
use crate::http_server::ConnectionLimits;

/// The opened stores, shared by the server and the workers.
pub struct Stores {
    /// Metadata and queue: SQLite or PostgreSQL, by `storage.database_url`.
    pub metadata: Arc<dyn MetadataStore>,
    /// Object bytes.
    pub blobs: Arc<dyn Blobs>,
    /// The object store's own URL signer (S3), when clients talk to it directly.
    pub store_signer: Option<Arc<dyn UrlSigner>>,
    /// Store signals.
    pub wakeups: Arc<Wakeups>,
    /// The configured engines.
    pub engines: Arc<Engines>,
    /// The detection models.
    pub detection: Arc<DetectionModels>,
}

impl Stores {
    /// Opens the metadata database (migrating its schema) and the blob store
    /// (`storage.blobs_url`: by default the `objects` directory in the data directory).
    pub async fn open(config: &Config) -> anyhow::Result<Stores> {
        let dir = &config.storage.data_dir;
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
        let wakeups = Arc::new(Wakeups::default());
        let metadata = open_metadata(config, wakeups.clone()).await?;
        let opened = config.storage.open_blobs().await?;
        Ok(Stores {
            metadata,
            blobs: opened.blobs,
            store_signer: opened.store_signer,
            wakeups,
            engines: Arc::new(config.engines.build(&config.storage.data_dir)?),
            detection: config.detection.build(&config.storage.data_dir),
        })
    }

    /// What workers need. Fails when image moderation is on and its model cannot be
    /// loaded (a worker must not store what it was told to check without checking).
    pub async fn worker_deps(&self, config: &Config) -> anyhow::Result<Arc<WorkerDeps>> {
        let moderation = config
            .image_moderation
            .build(&self.detection, self.metadata.clone())?;
        let secrets = crate::secrets::shared(config, self.metadata.clone())?;
        let webhooks = WebhookSettings {
            key: Arc::new(crate::secrets::webhook_key(&secrets).await?),
            policy: config.webhooks.policy(),
            max_attempts: config.webhooks.max_attempts,
            timeout: Duration::from_secs(config.webhooks.timeout_secs),
            jobs: self.metadata.clone(),
            deliveries: self.metadata.clone(),
        };
        Ok(Arc::new(WorkerDeps {
            queue: self.metadata.clone(),
            objects: self.metadata.clone(),
            blobs: self.blobs.clone(),
            wakeups: self.wakeups.clone(),
            limits: config.limits.clone(),
            engines: self.engines.clone(),
            request_log: self.metadata.clone(),
            detector: Some(self.detection.clone()),
            moderation,
            webhooks: Some(Arc::new(webhooks)),
            email: config.email.settings()?.map(Arc::new),
            endings: Some(Arc::new(NotifyOnEnd(Arc::new(self.notices(config))))),
        }))
    }

    /// The notifications service over these stores (workers tell it of jobs that end).
    fn notices(&self, config: &Config) -> Notices {
        let mailer = config.email.smtp_url.is_some().then(|| Mailer {
            jobs: self.metadata.clone(),
            attempts: config.webhooks.max_attempts,
            public_url: public_url(config, config.server.bind),
        });
        let verification = match mailer {
            Some(_) => config.auth.email_verification,
            None => EmailVerification::Off,
        };
        Notices::new(
            NoticePorts {
                users: self.metadata.clone(),
                jobs: self.metadata.clone(),
                reminders: self.metadata.clone(),
            },
            mailer,
            NoticeSettings {
                link_expiry_lead_ms: config.email.link_expiry_lead_secs * 1000,
                verified_only: verification != EmailVerification::Off,
            },
        )
    }
}

/// The address people reach this deployment at: `server.public_url`, else the bound
/// address.
fn public_url(config: &Config, bound: SocketAddr) -> String {
    config
        .server
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{bound}"))
}

/// The workers' [`JobEndings`] port, filled by the notifications service.
struct NotifyOnEnd(Arc<Notices>);

#[async_trait::async_trait]
impl JobEndings for NotifyOnEnd {
    async fn job_ended(&self, job: &Job, status: JobStatus, attempt: &str) {
        if let Err(error) = self.0.job_ended(job, status, attempt).await {
            tracing::error!(%error, job_id = %job.id, "could not send the job's notifications");
        }
    }
}

/// Opens (and migrates) the metadata database `storage.database_url` names. Fails with
/// the database named (its password hidden) and why.
pub async fn open_metadata(
    config: &Config,
    wakeups: Arc<Wakeups>,
) -> anyhow::Result<Arc<dyn MetadataStore>> {
    let database = config.storage.database()?;
    let shown = database.display();
    let store: Arc<dyn MetadataStore> = match &database {
        Database::Sqlite(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create the directory {}", parent.display()))?;
            }
            Arc::new(
                SqliteStore::open(path, wakeups)
                    .await
                    .with_context(|| format!("cannot open the database {shown}"))?,
            )
        }
        Database::Postgres(url) => Arc::new(
            PgOptions::new(url)
                .max_connections(config.storage.database_max_connections)
                .connect(wakeups)
                .await
                .with_context(|| format!("cannot open the database {shown}"))?,
        ),
    };
    tracing::info!(database = %shown, "metadata database open");
    Ok(store)
}

/// Worker settings from the configuration.
pub fn worker_settings(config: &Config) -> WorkerSettings {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = &config.workers;
    let cpu_workers = if workers.count == 0 {
        cores
    } else {
        workers.count
    };
    WorkerSettings {
        concurrency: if workers.in_flight == 0 {
            cpu_workers * 16
        } else {
            workers.in_flight
        },
        cpu_slots: cpu_workers,
        lease: Duration::from_secs(config.queue.lease_secs),
        poll_interval: Duration::from_millis(workers.poll_interval_ms),
        shutdown_grace: Duration::from_secs(workers.shutdown_grace_secs),
        backoff_base: Duration::from_millis(config.queue.backoff_base_ms),
        backoff_max: Duration::from_millis(config.queue.backoff_max_ms),
    }
}

/// A built, bound, not yet serving Easel.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    connection_limits: ConnectionLimits,
    workers: Option<WorkerPool>,
    shutdown: CancellationToken,
    base_url: String,
    bootstrap_admin: Option<(String, String)>,
}

impl Application {
    /// Opens everything and binds. Fails with a message a person can act on.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        easel_services::identity::install_tls_provider();
        let stores = Stores::open(&config).await?;
        let listener = TcpListener::bind(config.server.bind)
            .await
            .with_context(|| format!("cannot listen on {}", config.server.bind))?;
        let address: SocketAddr = listener.local_addr()?;
        let base_url = public_url(&config, address);
        let shutdown = CancellationToken::new();
        let presets = config.all_presets();
        let triggers = config
            .triggers
            .iter()
            .map(|rule| TriggerRule {
                prefix: rule.prefix.clone(),
                preset: rule.preset.clone(),
                pipeline: match (&rule.preset, &rule.pipeline) {
                    (Some(name), _) => presets[name].clone(),
                    (None, Some(pipeline)) => pipeline.clone(),
                    (None, None) => unreachable!("validated at load"),
                },
            })
            .collect();
        let settings = ApiSettings {
            max_json_bytes: config.server.max_json_bytes,
            seed_preset: config.jobs.seed_preset.clone(),
            cors: config.cors.settings(),
            request_timeout: Duration::from_secs(config.server.request_timeout_secs),
            max_streams_per_principal: config.server.max_streams_per_principal.max(1),
        };
        let auth_settings = config.auth.settings(&base_url);
        let bootstrap_admin = match auth_settings.mode {
            AuthMode::Local => crate::users::bootstrap_admin(stores.metadata.as_ref()).await?,
            AuthMode::None => None,
        };
        let secrets = crate::secrets::shared(&config, stores.metadata.clone())?;
        let keys = match auth_settings.mode {
            AuthMode::Local => crate::secrets::signing_keys(&config, &secrets).await?,
            AuthMode::None => KeyRing::default(),
        };
        let access_key_secret = crate::secrets::access_key_secret(&config, &secrets).await?;
        let tokens =
            Arc::new(Tokens::new(auth_settings, keys).with_access_key_secret(access_key_secret));
        if !tokens.keys().is_empty() {
            tokio::spawn(crate::secrets::reload_signing_keys(
                secrets.clone(),
                tokens.clone(),
                config.auth.token_ttl_secs,
                shutdown.clone(),
            ));
        }
        let presigner = Presigner::new(
            crate::secrets::presign_keys(&config, &secrets).await?,
            &base_url,
        );
        let presigner = Arc::new(presigner);
        let signer: Arc<dyn UrlSigner> = match &stores.store_signer {
            Some(store_signer) => store_signer.clone(),
            None => presigner.clone(),
        };
        let ports = Ports {
            jobs: stores.metadata.clone(),
            queue: stores.metadata.clone(),
            objects: stores.metadata.clone(),
            uploads: stores.metadata.clone(),
            signer: signer.clone(),
            blobs: stores.blobs.clone(),
            identity: stores.metadata.clone(),
            request_log: stores.metadata.clone(),
            deliveries: stores.metadata.clone(),
            alarms: stores.metadata.clone(),
            reminders: stores.metadata.clone(),
            wakeups: stores.wakeups.clone(),
            presigner: presigner.clone(),
            engines: stores.engines.clone(),
        };
        let services_settings = ServicesSettings {
            tokens: tokens.clone(),
            plans: config.auth.plans(&config.plans),
            jobs: JobSettings {
                max_sources_per_job: config.jobs.max_sources,
                max_attempts: config.queue.max_attempts,
                webhooks: config.webhooks.policy(),
            },
            uploads: UploadSettings {
                max_upload_bytes: config.storage.max_upload_bytes,
                content_types: config.storage.upload_content_types.clone(),
                url_ttl_secs: config.presign.upload_ttl_secs,
                events_token: config.storage.events_token.clone(),
                recheck_ms: config.storage.reconcile_interval_secs.max(1) as i64 * 1000,
            },
            triggers,
            presets,
            limits: config.limits.clone(),
            generation: easel_services::generation::GenerationSettings {
                webhooks: config.webhooks.policy(),
                ..config.generation.settings()?
            },
            detector: Some(stores.detection.clone()),
            moderation: config
                .image_moderation
                .build(&stores.detection, stores.metadata.clone())?,
            webhook_key: Arc::new(crate::secrets::webhook_key(&secrets).await?),
            webhook_attempts: config.webhooks.max_attempts,
            email_enabled: config.email.smtp_url.is_some(),
            public_url: base_url.clone(),
            link_expiry_lead_ms: config.email.link_expiry_lead_secs * 1000,
            alarms: config
                .alarms
                .iter()
                .map(|a| a.rule(&config.webhooks))
                .collect::<anyhow::Result<_>>()?,
        };
        let services = Services::new(ports, services_settings, shutdown.clone());
        tokio::spawn(retention_sweep(
            services.clone(),
            Retention {
                every: Duration::from_secs(config.generation.sweep_interval_secs.max(1)),
                finished_jobs_ms: i64::from(config.queue.finished_retention_days) * 86_400_000,
            },
            shutdown.clone(),
        ));
        tokio::spawn(easel_services::alarms::run_alarms(
            services.alarms.clone(),
            services.alarms.tick(),
            shutdown.clone(),
        ));
        tokio::spawn(easel_services::notices::run_notices(
            services.notices.clone(),
            Duration::from_secs(config.email.notify_interval_secs.max(1)),
            shutdown.clone(),
        ));
        tokio::spawn(reconcile_uploads(
            services.clone(),
            Duration::from_secs(config.storage.reconcile_interval_secs.max(1)),
            shutdown.clone(),
        ));
        let state = AppState {
            services,
            signer,
            settings: Arc::new(settings),
            metrics: easel_api::install_metrics_recorder(),
            shutdown: shutdown.clone(),
            streams: Arc::default(),
        };
        let router = easel_api::router(state);
        let workers = match config.workers.in_process {
            true => Some(spawn_workers(
                stores.worker_deps(&config).await?,
                worker_settings(&config),
                shutdown.clone(),
            )),
            false => None,
        };
        tracing::info!(%address, data_dir = %config.storage.data_dir.display(), "easel is listening");
        Ok(Application {
            listener,
            router,
            connection_limits: ConnectionLimits {
                header_read_timeout: Duration::from_secs(
                    config.server.header_read_timeout_secs.max(1),
                ),
                max_connections: config.server.max_connections,
            },
            workers,
            shutdown,
            base_url,
            bootstrap_admin,
        })
    }

    /// The admin account created on this first start, with its generated password
    /// (`None` when accounts already existed).
    pub fn bootstrap_admin(&self) -> Option<&(String, String)> {
        self.bootstrap_admin.as_ref()
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |a| a.port())
    }

    /// The base URL presigned links use.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The token that stops the server and workers.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token fires; then stops accepting, lets requests and
    /// running jobs finish (jobs up to the grace period) and returns.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        crate::http_server::serve(
            self.listener,
            self.router,
            self.connection_limits,
            self.shutdown.clone(),
        )
        .await;
        if let Some(workers) = self.workers {
            workers.join().await;
        }
        tracing::info!("easel stopped");
        Ok(())
    }
}

/// What the retention sweep removes, and how often it runs.
struct Retention {
    /// The pause between sweeps.
    every: Duration,
    /// How long finished jobs are kept (0: forever).
    finished_jobs_ms: i64,
}

/// Every `every`, takes in the uploads nobody reported and expires those that never
/// arrived (see `Ingest::reconcile`). Every process runs it; claims keep them apart.
async fn reconcile_uploads(services: Services, every: Duration, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.cancelled() => return,
        }
        match services.ingest.reconcile().await {
            Ok(done) if done.ingested + done.refused + done.expired > 0 => tracing::info!(
                ingested = done.ingested,
                refused = done.refused,
                expired = done.expired,
                waiting = done.waiting,
                "reconciled unreported uploads"
            ),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "upload reconciler failed; will retry"),
        }
    }
}

/// Until shutdown, every `retention.every`: deletes expired generation outputs (the
/// retention of `generation.retention_days`; a history delete expires an entry at once)
/// and finished jobs (and settled upload records) past `queue.finished_retention_days`.
/// Every process sweeps; the
/// deletes are idempotent, so processes sharing a database do not conflict.
async fn retention_sweep(services: Services, retention: Retention, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(retention.every) => {}
            () = shutdown.cancelled() => return,
        }
        let now = easel_core::now_millis();
        match services.generation.sweep_expired(now).await {
            Ok(0) => {}
            Ok(swept) => tracing::info!(swept, "retention sweep removed expired outputs"),
            Err(error) => tracing::warn!(%error, "retention sweep failed; will retry"),
        }
        if retention.finished_jobs_ms > 0 {
            match services
                .jobs
                .prune_finished(now, retention.finished_jobs_ms)
                .await
            {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, "retention sweep deleted finished jobs"),
                Err(error) => tracing::warn!(%error, "pruning finished jobs failed; will retry"),
            }
            let before = now - retention.finished_jobs_ms;
            match services.ingest.prune_settled(before).await {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, "retention sweep forgot settled uploads"),
                Err(error) => tracing::warn!(%error, "pruning settled uploads failed; will retry"),
            }
        }
    }
}
