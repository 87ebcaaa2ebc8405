//! The subcommands.

pub mod blobs;
pub mod db;
pub mod keys;
#[cfg(feature = "diffusion")]
pub mod models;
pub mod process;
pub mod serve;
pub mod user;
pub mod worker;
