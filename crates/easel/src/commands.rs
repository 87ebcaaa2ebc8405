//! The subcommands.

pub mod process;
pub mod serve;
pub mod worker;
