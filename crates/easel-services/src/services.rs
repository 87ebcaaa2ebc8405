//! [`Services`]: every service of one Easel process, built once from the stores and
//! engines it runs on.

use std::collections::BTreeMap;
use std::sync::Arc;

use easel_engines::Engines;
use easel_image::{Limits, ObjectDetector, Pipeline};
use easel_store::{
    Blobs, IdentityStore, Jobs as JobStore, Objects, Presigner, Queue, RequestLog, Uploads,
    UrlSigner, Wakeups,
};
use tokio_util::sync::CancellationToken;

use crate::alarms::{AlarmPorts, AlarmService};
use crate::audit::Auditor;
use crate::generation::{Generation, GenerationPorts, GenerationSettings};
use crate::identity::challenge::challenge_key;
use crate::identity::{EmailVerification, Identity, Tokens};
use crate::ingest::{Ingest, IngestPorts, TriggerRule, UploadSettings};
use crate::jobs::{JobPorts, JobSettings, Jobs, Submitter};
use crate::mail::Mailer;
use crate::notices::{NoticePorts, NoticeSettings, Notices};
use crate::objects::ObjectAccess;
use crate::usage::{Plans, Usage};

/// The stores and engines the services run on.
pub struct Ports {
    /// Job records.
    pub jobs: Arc<dyn JobStore>,
    /// The queue (its depth).
    pub queue: Arc<dyn Queue>,
    /// Object metadata.
    pub objects: Arc<dyn Objects>,
    /// Object bytes.
    pub blobs: Arc<dyn Blobs>,
    /// Expected uploads.
    pub uploads: Arc<dyn Uploads>,
    /// Accounts, credentials, usage counters and the audit log.
    pub identity: Arc<dyn IdentityStore>,
    /// The generation request log.
    pub request_log: Arc<dyn RequestLog>,
    /// The webhook delivery log.
    pub deliveries: Arc<dyn easel_store::Deliveries>,
    /// Alarm datapoints, states and history.
    pub alarms: Arc<dyn easel_store::Alarms>,
    /// Link-expiry reminders.
    pub reminders: Arc<dyn easel_store::Reminders>,
    /// In-process job change signals.
    pub wakeups: Arc<Wakeups>,
    /// Checks Easel's own presigned URLs (the filesystem store's `/o/…` route).
    pub presigner: Arc<Presigner>,
    /// Signs the upload and download URLs clients get: Easel's own, or the store's.
    pub signer: Arc<dyn UrlSigner>,
    /// Generation and editing engines.
    pub engines: Arc<Engines>,
}

/// What the services are configured with.
pub struct ServicesSettings {
    /// Token issuing and verification (its key ring is reloaded by the binary).
    pub tokens: Arc<Tokens>,
    /// Usage plans.
    pub plans: Plans,
    /// Job submission rules.
    pub jobs: JobSettings,
    /// Upload rules.
    pub uploads: UploadSettings,
    /// Upload triggers.
    pub triggers: Vec<TriggerRule>,
    /// Named pipelines.
    pub presets: BTreeMap<String, Pipeline>,
    /// Limits applied to every image.
    pub limits: Limits,
    /// Generation settings.
    pub generation: GenerationSettings,
    /// The detection models `detect` operations use; `None` when none are set up.
    pub detector: Option<Arc<dyn ObjectDetector>>,
    /// The deployment's key webhook signing secrets are derived from.
    pub webhook_key: Arc<Vec<u8>>,
    /// Attempts per webhook delivery (alarm notifications too).
    pub webhook_attempts: u32,
    /// The alarm rules.
    pub alarms: Vec<crate::alarms::AlarmRule>,
    /// Whether e-mail goes out (`[email]`): account e-mails and notifications need it.
    pub email_enabled: bool,
    /// The web UI's address, for links in e-mails.
    pub public_url: String,
    /// How long before the 24-hour link expires its reminder goes out, in milliseconds.
    pub link_expiry_lead_ms: i64,
    /// Image moderation (uploads are checked as they are taken in); `None` when off.
    pub moderation: Option<Arc<easel_moderation::ImageModeration>>,
}

/// Every service of one process.
#[derive(Clone)]
pub struct Services {
    /// Audit events.
    pub audit: Arc<Auditor>,
    /// Accounts, keys and credentials.
    pub identity: Arc<Identity>,
    /// Rate limits and quotas.
    pub usage: Arc<Usage>,
    /// Jobs.
    pub jobs: Arc<Jobs>,
    /// Uploads.
    pub ingest: Arc<Ingest>,
    /// Object reads.
    pub objects: Arc<ObjectAccess>,
    /// Generation, history and retention.
    pub generation: Arc<Generation>,
    /// Limits applied to every image (dialects that prepare images apply them too).
    pub limits: Arc<Limits>,
    /// Alarms.
    pub alarms: Arc<AlarmService>,
    /// Notifications account holders opted into.
    pub notices: Arc<Notices>,
}

impl Services {
    /// Builds every service over `ports`; waits (generations, job watches) end when
    /// `stop` fires.
    pub fn new(ports: Ports, settings: ServicesSettings, stop: CancellationToken) -> Services {
        let audit = Arc::new(Auditor::new(ports.identity.clone()));
        let mailer = || {
            settings.email_enabled.then(|| Mailer {
                jobs: ports.jobs.clone(),
                attempts: settings.webhook_attempts,
                public_url: settings.public_url.clone(),
            })
        };
        let identity = Arc::new(Identity::new(
            ports.identity.clone(),
            settings.tokens,
            audit.clone(),
            mailer(),
            challenge_key(&settings.webhook_key),
        ));
        let usage = Arc::new(Usage::new(
            ports.identity.clone(),
            settings.plans,
            identity.clone(),
        ));
        let notices = Arc::new(Notices::new(
            NoticePorts {
                users: ports.identity.clone(),
                jobs: ports.jobs.clone(),
                reminders: ports.reminders,
            },
            mailer(),
            NoticeSettings {
                link_expiry_lead_ms: settings.link_expiry_lead_ms,
                verified_only: identity.email_verification() != EmailVerification::Off,
            },
        ));
        let limits = Arc::new(settings.limits);
        let max_attempts = settings.jobs.max_attempts;
        let alarms = Arc::new(AlarmService::new(
            AlarmPorts {
                store: ports.alarms.clone(),
                queue: ports.queue.clone(),
                jobs: ports.jobs.clone(),
            },
            settings.alarms,
            settings.webhook_key.clone(),
            settings.webhook_attempts,
        ));
        let submitter = Arc::new(Submitter::new(
            ports.jobs.clone(),
            ports.objects.clone(),
            usage.clone(),
            Arc::new(settings.presets),
            limits.clone(),
            settings.jobs,
            settings.detector,
        ));
        let ingest = Arc::new(Ingest::new(
            IngestPorts {
                blobs: ports.blobs.clone(),
                objects: ports.objects.clone(),
                uploads: ports.uploads,
                signer: ports.signer.clone(),
                presigner: ports.presigner,
                moderation: settings.moderation,
            },
            submitter.clone(),
            limits.clone(),
            Arc::new(settings.triggers),
            settings.uploads,
        ));
        let jobs = Arc::new(Jobs::new(
            JobPorts {
                store: ports.jobs.clone(),
                queue: ports.queue.clone(),
                wakeups: ports.wakeups.clone(),
                deliveries: ports.deliveries.clone(),
            },
            audit.clone(),
            submitter,
            ingest.clone(),
            settings.webhook_key,
            settings.webhook_attempts,
        ));
        let objects = Arc::new(ObjectAccess::new(
            ports.blobs.clone(),
            ports.objects.clone(),
        ));
        let generation = Arc::new(Generation::new(
            GenerationPorts {
                jobs: ports.jobs,
                objects: ports.objects,
                blobs: ports.blobs,
                request_log: ports.request_log,
                wakeups: ports.wakeups,
                engines: ports.engines,
            },
            usage.clone(),
            jobs.clone(),
            settings.generation,
            max_attempts,
            stop,
        ));
        Services {
            audit,
            identity,
            usage,
            jobs,
            ingest,
            objects,
            generation,
            limits,
            alarms,
            notices,
        }
    }
}
