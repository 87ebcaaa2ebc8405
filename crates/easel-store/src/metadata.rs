//! [`MetadataStore`]: every metadata trait at once, the one object a process opens for
//! its database (SQLite or PostgreSQL) and hands out as narrower ports.

use crate::{IdentityStore, Jobs, Objects, Queue, RequestLog, Uploads};

/// A metadata database: jobs, the queue, object metadata, identity and the request log.
pub trait MetadataStore:
    Jobs + Queue + Objects + Uploads + IdentityStore + RequestLog + 'static
{
}

impl<T: Jobs + Queue + Objects + Uploads + IdentityStore + RequestLog + 'static> MetadataStore
    for T
{
}
