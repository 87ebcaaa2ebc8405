//! The subcommands.

pub mod process;
pub mod serve;
pub mod user;
pub mod worker;
