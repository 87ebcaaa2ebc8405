//! The subcommands.

#[cfg(feature = "diffusion")]
pub mod models;
pub mod process;
pub mod serve;
pub mod user;
pub mod worker;
