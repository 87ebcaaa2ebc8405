//! The `easel` binary's library half: configuration, startup and the subcommands, so
//! integration tests can start the real application in-process.

pub mod app;
pub mod commands;
pub mod config;
pub mod telemetry;
pub mod users;
