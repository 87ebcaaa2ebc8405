//! Fixtures shared by the fuzz targets and by `examples/seeds.rs`, which writes the seed
//! corpus from them: the signing key and token issuer, the presigner and the URLs it
//! signed, and the multipart encoder. A target's "only what the fixture signed
//! verifies" checks hold because the secrets below are used nowhere else.

pub mod jwt;
pub mod multipart;
pub mod presign;

/// "Now" for the presigned-URL target (2027-01-15), so its seeds never expire.
pub const NOW: i64 = 1_800_000_000;

/// Expiry of every fixture URL and token (2100-01-01): far after any real clock.
pub const FAR: i64 = 4_102_444_800;
