//! The `easel` command line: parses flags and hands off to the commands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use easel::commands;
use easel::commands::process::ProcessArgs;
use easel::commands::user::UserArgs;
use easel::config::{Config, LogFormat, Overrides};

/// Easel: a self-hosted image platform in one binary.
#[derive(Debug, Parser)]
#[command(name = "easel", version, about)]
struct Cli {
    /// Configuration file (TOML); see easel.example.toml.
    #[arg(long, global = true, env = "EASEL_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log format: auto, json or pretty.
    #[arg(long, global = true, value_name = "FORMAT")]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP API with in-process workers and upload triggers.
    Serve {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long, value_name = "ADDR")]
        bind: Option<std::net::SocketAddr>,
        /// Data directory (default ./easel-data).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Run workers only, against the same data directory as a server.
    Worker {
        /// Data directory (default ./easel-data).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Run every claimable job, then exit.
        #[arg(long)]
        drain: bool,
    },
    /// Process local image files with a preset or pipeline.
    Process(ProcessArgs),
    /// Manage accounts (works on the data directory's database).
    User {
        /// Data directory (default ./easel-data).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        #[command(flatten)]
        args: UserArgs,
    },
    /// The local diffusion engine's models: list what is installed, pull from the hub.
    Models {
        /// Data directory (default ./easel-data).
        #[arg(long, value_name = "DIR", global = true)]
        data_dir: Option<PathBuf>,
        #[cfg(feature = "diffusion")]
        #[command(flatten)]
        args: commands::models::ModelsArgs,
    },
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Print the OpenAPI document that `GET /openapi.json` serves.
    Openapi,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print it with secrets masked.
    Check,
}

fn main() -> ExitCode {
    easel_services::identity::install_tls_provider();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut overrides = Overrides {
        log_format: cli.log_format,
        ..Overrides::default()
    };
    match cli.command {
        Command::Serve { bind, data_dir } => {
            overrides.bind = bind;
            overrides.data_dir = data_dir;
            let config = Config::load(cli.config.as_deref(), &overrides)?;
            commands::serve::run(config)
        }
        Command::Worker { data_dir, drain } => {
            overrides.data_dir = data_dir;
            let config = Config::load(cli.config.as_deref(), &overrides)?;
            commands::worker::run(config, drain)
        }
        Command::Process(args) => {
            let config = Config::load(cli.config.as_deref(), &overrides)?;
            commands::process::run(&args, &config.all_presets(), &config.limits)
        }
        Command::User { data_dir, args } => {
            overrides.data_dir = data_dir;
            let config = Config::load(cli.config.as_deref(), &overrides)?;
            commands::user::run(args, config)
        }
        #[cfg(feature = "diffusion")]
        Command::Models { data_dir, args } => {
            overrides.data_dir = data_dir;
            let config = Config::load(cli.config.as_deref(), &overrides)?;
            commands::models::run(args, config)
        }
        #[cfg(not(feature = "diffusion"))]
        Command::Models { .. } => anyhow::bail!(
            "the diffusion engine is not compiled into this build; rebuild with \
             `cargo build --release --features diffusion`"
        ),
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            let config = Config::load(cli.config.as_deref(), &overrides)?;
            print!("{}", toml::to_string_pretty(&config.masked())?);
            eprintln!("configuration OK");
            Ok(ExitCode::SUCCESS)
        }
        Command::Openapi => {
            println!("{}", easel_api::openapi_json_text());
            Ok(ExitCode::SUCCESS)
        }
    }
}
