//! Everything identity needs from the metadata database, as one object-safe bundle.

use crate::{ApiKeys, Audit, ExternalPrincipals, RefreshTokens, Usage, Users};

/// A store holding accounts (local and external), credentials, usage counters and the
/// audit log.
pub trait IdentityStore:
    Users + ExternalPrincipals + RefreshTokens + ApiKeys + Usage + Audit + 'static
{
}

impl<T: Users + ExternalPrincipals + RefreshTokens + ApiKeys + Usage + Audit + 'static>
    IdentityStore for T
{
}
