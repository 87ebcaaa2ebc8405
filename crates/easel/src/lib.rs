//! The `easel` binary's library half: configuration, startup (the stores, the services
//! of `easel-services`, the HTTP transport and the workers) and the subcommands, so
//! integration tests can start the real application in-process.

pub mod app;
pub mod commands;
pub mod config;
pub mod http_server;
pub mod secrets;
pub mod telemetry;
pub mod users;
