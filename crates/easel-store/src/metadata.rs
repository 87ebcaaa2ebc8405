//! [`MetadataStore`]: every metadata trait at once, the one object a process opens for
//! its database (SQLite or PostgreSQL) and hands out as narrower ports.

use crate::{Alarms, Deliveries, IdentityStore, Jobs, Objects, Queue, RequestLog, Uploads};

/// A metadata database: jobs, the queue, object metadata, identity, the request log and
/// the webhook delivery log.
pub trait MetadataStore:
    Jobs + Queue + Objects + Uploads + IdentityStore + RequestLog + Deliveries + Alarms + 'static
{
}

impl<
    T: Jobs + Queue + Objects + Uploads + IdentityStore + RequestLog + Deliveries + Alarms + 'static,
> MetadataStore for T
{
}
