//! Errors of the persistence layer, each with a stable code.

/// Everything that can go wrong in a store or blob operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An idempotency key was reused with a different request body.
    #[error("this Idempotency-Key was already used with a different request body")]
    IdempotencyConflict,
    /// A unique value (a username, a key) is already taken.
    #[error("already exists")]
    Conflict,
    /// The object does not exist.
    #[error("object not found")]
    NotFound,
    /// An upload went over its size limit; nothing was stored.
    #[error("the body is larger than the {limit} bytes allowed")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The metadata database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The blob store failed.
    #[error("blob store error: {0}")]
    Blob(#[from] object_store::Error),
    /// A batched database write failed (the detail is the database's message).
    #[error("database error: {0}")]
    BatchWrite(String),
    /// A stored row could not be read back.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A filesystem operation failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The database was migrated by a newer Easel: its schema is at a version this binary
    /// does not know, so it refuses to touch it.
    #[error(
        "the database schema is at version {found}, newer than this Easel supports ({supported}); upgrade Easel"
    )]
    SchemaTooNew {
        /// The version the database records.
        found: u32,
        /// The newest version this binary knows.
        supported: u32,
    },
}

impl StoreError {
    /// A stable kebab-case code.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::IdempotencyConflict => "idempotency-key-reused",
            StoreError::Conflict => "conflict",
            StoreError::NotFound => "not-found",
            StoreError::TooLarge { .. } => "payload-too-large",
            StoreError::Database(_) | StoreError::BatchWrite(_) => "database-error",
            StoreError::Blob(_) => "blob-store-error",
            StoreError::Corrupt(_) => "corrupt-row",
            StoreError::Io(_) => "io-error",
            StoreError::SchemaTooNew { .. } => "schema-too-new",
        }
    }

    /// Whether retrying the same operation later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Database(_)
                | StoreError::BatchWrite(_)
                | StoreError::Blob(_)
                | StoreError::Io(_)
        )
    }
}
