//! [`MetadataStore`]: every metadata trait at once, the one object a process opens for
//! its database (SQLite or PostgreSQL) and hands out as narrower ports.

use crate::{
    Alarms, Deliveries, IdentityStore, Jobs, Objects, Queue, Reminders, RequestLog, Uploads,
};

/// A metadata database: jobs, the queue, object metadata, identity, the request log, the
/// webhook delivery log, the alarms and the link-expiry reminders.
pub trait MetadataStore:
    Jobs
    + Queue
    + Objects
    + Uploads
    + IdentityStore
    + RequestLog
    + Deliveries
    + Alarms
    + Reminders
    + 'static
{
}

impl<
    T: Jobs
        + Queue
        + Objects
        + Uploads
        + IdentityStore
        + RequestLog
        + Deliveries
        + Alarms
        + Reminders
        + 'static,
> MetadataStore for T
{
}
