//! Who is calling, as HTTP sees it: the credential headers a request carries are read
//! into [`easel_services::identity::Credential`]s and resolved by the identity service
//! ([`Caller`], [`Authenticated`]), the principal's rate limit is taken from the usage
//! service and reported in `x-ratelimit-*` headers ([`limits`]), and SigV4 signatures
//! are checked over the request as received ([`sigv4`]). Request metadata for the audit
//! log comes from [`RequestMeta`].

mod audit;
mod caller;
pub mod limits;
pub mod sigv4;

pub use audit::RequestMeta;
pub use caller::{Authenticated, Caller, api_key_header, credentials};
