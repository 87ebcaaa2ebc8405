//! Everything identity needs from the metadata database, as one object-safe bundle.

use crate::{ApiKeys, Audit, RefreshTokens, Usage, Users};

/// A store holding accounts, credentials, usage counters and the audit log.
pub trait IdentityStore: Users + RefreshTokens + ApiKeys + Usage + Audit + 'static {}

impl<T: Users + RefreshTokens + ApiKeys + Usage + Audit + 'static> IdentityStore for T {}
