//! Everything identity needs from the metadata database, as one object-safe bundle.

use crate::{
    AccountCodes, ApiKeys, Audit, ExternalPrincipals, RefreshTokens, Secrets, SpentChallenges,
    Usage, Users,
};

/// A store holding accounts (local and external), credentials, usage counters, the
/// audit log, the deployment's shared secrets and the one-time codes mailed to accounts.
pub trait IdentityStore:
    Users
    + ExternalPrincipals
    + RefreshTokens
    + ApiKeys
    + Usage
    + Audit
    + Secrets
    + AccountCodes
    + SpentChallenges
    + 'static
{
}

impl<
    T: Users
        + ExternalPrincipals
        + RefreshTokens
        + ApiKeys
        + Usage
        + Audit
        + Secrets
        + AccountCodes
        + SpentChallenges
        + 'static,
> IdentityStore for T
{
}
