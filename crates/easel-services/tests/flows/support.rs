//! A [`World`]: the services over a fresh SQLite database and object directory, a user
//! with an API key, and helpers to put images in and run queued jobs.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use easel_core::{Bucket, ObjectKey, ObjectRef, OpClass, Principal, now_millis};
use easel_engines::Engines;
use easel_engines::classic::ClassicEngine;
use easel_image::{Limits, builtin_presets};
use easel_services::generation::GenerationSettings;
use easel_services::identity::{
    AuthMode, AuthSettings, KeyKind, KeyRing, KeySecret, PasswordPolicy, RingKey, SigningKey,
    Tokens,
};
use easel_services::ingest::{TriggerRule, UploadSettings};
use easel_services::jobs::JobSettings;
use easel_services::usage::{Plan, Plans, QuotaLimits};
use easel_services::{Ports, Services, ServicesSettings};
use easel_store::{
    Blobs, ExpectedUpload, LockoutPolicy, ObjectBlobs, ObjectMeta, Objects, PresignKey, Presigner,
    SqliteStore, StoreError, UploadRules, UploadState, Uploads, User, Users, Wakeups,
};
use easel_worker::{WorkerDeps, WorkerSettings, drain};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

/// How a world is set up.
pub struct Setup {
    /// Quotas of the default plan, by class.
    pub quotas: BTreeMap<OpClass, QuotaLimits>,
    /// Upload triggers.
    pub triggers: Vec<TriggerRule>,
    /// Image limits.
    pub limits: Limits,
    /// Wraps the object metadata store (to make it fail).
    pub objects: fn(Arc<SqliteStore>) -> Arc<dyn Objects>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            quotas: BTreeMap::new(),
            triggers: Vec::new(),
            limits: Limits::default(),
            objects: |store| store,
        }
    }
}

/// The services of one Easel process over their own stores.
pub struct World {
    pub services: Services,
    pub store: Arc<SqliteStore>,
    pub blobs: Arc<ObjectBlobs>,
    pub wakeups: Arc<Wakeups>,
    pub engines: Arc<Engines>,
    pub user: Principal,
    /// A live API key of `user`.
    pub api_key: String,
    _dir: TempDir,
}

/// A quota of `day` a day.
pub fn daily(day: u64) -> QuotaLimits {
    QuotaLimits {
        day: Some(day),
        ..QuotaLimits::default()
    }
}

impl World {
    pub async fn new(setup: Setup) -> World {
        let dir = tempfile::tempdir().unwrap();
        let wakeups = Arc::new(Wakeups::default());
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("easel.db"), wakeups.clone())
                .await
                .unwrap(),
        );
        let blobs = Arc::new(ObjectBlobs::filesystem(&dir.path().join("objects")).unwrap());
        let presigner = Arc::new(Presigner::new(
            vec![PresignKey {
                id: "test".into(),
                secret: vec![7; 32],
            }],
            "http://easel.test",
        ));
        let engines = Arc::new(Engines::new(vec![Arc::new(ClassicEngine::default())]));
        let ports = Ports {
            jobs: store.clone(),
            queue: store.clone(),
            objects: (setup.objects)(store.clone()),
            blobs: blobs.clone(),
            identity: store.clone(),
            request_log: store.clone(),
            deliveries: store.clone(),
            alarms: store.clone(),
            reminders: store.clone(),
            wakeups: wakeups.clone(),
            uploads: store.clone(),
            signer: presigner.clone(),
            presigner,
            engines: engines.clone(),
        };
        let plan = Plan {
            rate_per_sec: 1_000.0,
            burst: 1_000,
            quotas: setup.quotas,
        };
        let settings = ServicesSettings {
            tokens: Arc::new(Tokens::new(
                auth_settings(),
                KeyRing::new(vec![RingKey {
                    key: Arc::new(SigningKey::from_seed(&[3; 32]).unwrap()),
                    created_at: 0,
                }]),
            )),
            plans: Plans {
                plans: BTreeMap::from([("default".to_owned(), plan)]),
                default_plan: "default".to_owned(),
            },
            jobs: JobSettings {
                max_sources_per_job: 10,
                max_attempts: 3,
                webhooks: easel_core::WebhookPolicy::default(),
            },
            uploads: UploadSettings {
                max_upload_bytes: 10 * 1024 * 1024,
                content_types: vec!["image/png".into(), "image/jpeg".into()],
                url_ttl_secs: 600,
                events_token: None,
                recheck_ms: 30_000,
            },
            triggers: setup.triggers,
            presets: builtin_presets(),
            limits: setup.limits,
            generation: GenerationSettings::default(),
            detector: None,
            moderation: None,
            webhook_key: Arc::new(vec![9; 32]),
            webhook_attempts: 3,
            alarms: Vec::new(),
            email_enabled: false,
            public_url: "http://easel.test".into(),
            link_expiry_lead_ms: 3_600_000,
        };
        let services = Services::new(ports, settings, CancellationToken::new());
        let user = create_user(&store, "user@example.test").await;
        let created = services
            .identity
            .create_key(&Default::default(), &user, "tests", KeyKind::ApiKey)
            .await
            .unwrap();
        let KeySecret::ApiKey(api_key) = created.secret else {
            unreachable!("an API key was asked for")
        };
        World {
            services,
            store,
            blobs,
            wakeups,
            engines,
            user,
            api_key,
            _dir: dir,
        }
    }

    /// Expects an upload of `user`'s at `key` and stores `bytes` there as `content_type`,
    /// as a presigned URL and a PUT straight to the store would, before ingest runs.
    pub async fn put_upload(
        &self,
        key: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> (ObjectRef, UploadRules, easel_store::PutOutcome) {
        let object = ObjectRef {
            bucket: Bucket::Uploads,
            key: ObjectKey::parse(key).unwrap(),
        };
        let now = easel_core::now_millis();
        self.store
            .expect_upload(&ExpectedUpload {
                object: object.clone(),
                owner: self.user.id.clone(),
                content_type: content_type.to_owned(),
                max_bytes: 10 * 1024 * 1024,
                expires_at: now + 600_000,
                state: UploadState::Pending,
                failure: None,
                next_check_at: now,
                created_at: now,
            })
            .await
            .unwrap();
        let stored = self
            .blobs
            .put(&object, Bytes::from(bytes), content_type)
            .await
            .unwrap();
        let rules = UploadRules {
            content_type: content_type.to_owned(),
            max_bytes: 10 * 1024 * 1024,
            owner: self.user.id.clone(),
        };
        (object, rules, stored)
    }

    /// An accepted upload of a `width`×`height` PNG under `key`.
    pub async fn upload_png(&self, key: &str, width: u32, height: u32) -> ObjectRef {
        let (object, _, _) = self.put_upload(key, "image/png", png(width, height)).await;
        self.services
            .ingest
            .complete(&self.user, &object)
            .await
            .unwrap();
        object
    }

    /// Runs every queued job to the end with the real worker.
    pub async fn run_jobs(&self) -> usize {
        let deps = WorkerDeps {
            queue: self.store.clone(),
            objects: self.store.clone(),
            blobs: self.blobs.clone(),
            wakeups: self.wakeups.clone(),
            limits: Limits::default(),
            engines: self.engines.clone(),
            request_log: self.store.clone(),
            detector: None,
            moderation: None,
            webhooks: None,
            email: None,
            endings: None,
        };
        let settings = WorkerSettings {
            concurrency: 2,
            cpu_slots: 1,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(50),
            shutdown_grace: Duration::from_secs(5),
            backoff_base: Duration::from_millis(10),
            backoff_max: Duration::from_millis(50),
        };
        drain(&deps, &settings).await
    }

    /// Operations of `class` counted today for the user.
    pub async fn used(&self, class: OpClass) -> u64 {
        let report = self
            .services
            .usage
            .report(&self.user.id, None)
            .await
            .unwrap();
        let periods = report.quotas[&class].as_ref().expect("a limited class");
        periods[&easel_core::QuotaPeriod::Day].used
    }
}

fn auth_settings() -> AuthSettings {
    AuthSettings {
        mode: AuthMode::Local,
        issuer: "http://easel.test".into(),
        client_id: "easel".into(),
        token_ttl_secs: 3_600,
        refresh_ttl_secs: 86_400,
        allow_sign_up: true,
        email_verification: Default::default(),
        challenge: Default::default(),
        password_policy: PasswordPolicy::default(),
        lockout: LockoutPolicy {
            threshold: 5,
            base_ms: 1_000,
            max_ms: 900_000,
        },
        external: Vec::new(),
    }
}

async fn create_user(store: &SqliteStore, username: &str) -> Principal {
    let now = now_millis();
    let user = User {
        id: uuid_like(username),
        username: username.to_owned(),
        password_hash: String::new(),
        admin: false,
        plan: None,
        disabled: false,
        created_at: now,
        updated_at: now,
        email_verified_at: Some(now),
        pending_email: None,
        notifications: Default::default(),
    };
    store.create_user(&user).await.unwrap();
    Principal {
        id: user.id,
        admin: false,
    }
}

fn uuid_like(seed: &str) -> String {
    format!("user-{}", seed.len())
}

/// A PNG with a gradient, `width`×`height`.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbaImage::from_fn(width, height, |x, y| {
        image::Rgba([(x % 256) as u8, (y % 256) as u8, 128, 255])
    });
    let mut bytes = Cursor::new(Vec::new());
    image.write_to(&mut bytes, image::ImageFormat::Png).unwrap();
    bytes.into_inner()
}

/// Object metadata whose writes fail as if the database had gone away; reads work.
pub struct FailingWrites(pub Arc<SqliteStore>);

#[async_trait]
impl Objects for FailingWrites {
    async fn put_object(&self, _meta: &ObjectMeta) -> Result<(), StoreError> {
        Err(StoreError::BatchWrite("the database went away".into()))
    }

    async fn get_object(&self, object: &ObjectRef) -> Result<Option<ObjectMeta>, StoreError> {
        self.0.get_object(object).await
    }

    async fn derived_from(&self, source: &ObjectRef) -> Result<Vec<ObjectMeta>, StoreError> {
        self.0.derived_from(source).await
    }

    async fn delete_object(&self, object: &ObjectRef) -> Result<bool, StoreError> {
        self.0.delete_object(object).await
    }
}
