//! Everything identity needs from the metadata database, as one object-safe bundle.

use crate::{ApiKeys, Audit, ExternalPrincipals, RefreshTokens, Secrets, Usage, Users};

/// A store holding accounts (local and external), credentials, usage counters, the
/// audit log and the deployment's shared secrets.
pub trait IdentityStore:
    Users + ExternalPrincipals + RefreshTokens + ApiKeys + Usage + Audit + Secrets + 'static
{
}

impl<T: Users + ExternalPrincipals + RefreshTokens + ApiKeys + Usage + Audit + Secrets + 'static>
    IdentityStore for T
{
}
