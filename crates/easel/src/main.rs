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
        /// The metadata database URL (`storage.database_url`).
        #[arg(long, value_name = "URL")]
        database_url: Option<String>,
        /// Serve the API only: no in-process workers (run `easel worker` elsewhere).
        #[arg(long)]
        no_workers: bool,
    },
    /// Run workers only, against the same database and objects as a server.
    Worker {
        /// Data directory (default ./easel-data).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// The metadata database URL (`storage.database_url`).
        #[arg(long, value_name = "URL")]
        database_url: Option<String>,
        /// Run every claimable job, then exit.
        #[arg(long)]
        drain: bool,
    },
    /// Process local image files with a preset or pipeline.
    Process(ProcessArgs),
    /// Manage accounts (works on the configured metadata database).
    User {
        /// Data directory (default ./easel-data).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// The metadata database URL (`storage.database_url`).
        #[arg(long, value_name = "URL")]
        database_url: Option<String>,
        #[command(flatten)]
        args: UserArgs,
    },
    /// Models for the diffusion engine and the object detector: list, pull from the hub.
    Models {
        /// Data directory (default ./easel-data).
        #[arg(long, value_name = "DIR", global = true)]
        data_dir: Option<PathBuf>,
        #[cfg(feature = "diffusion")]
        #[command(flatten)]
        args: commands::models::ModelsArgs,
    },
    /// The metadata database: `easel db migrate`, `easel db copy`.
    Db {
        /// Data directory (default ./easel-data).
        #[arg(long, value_name = "DIR", global = true)]
        data_dir: Option<PathBuf>,
        /// The metadata database URL (`storage.database_url`).
        #[arg(long, value_name = "URL", global = true)]
        database_url: Option<String>,
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Object bytes: `easel blobs copy`.
    Blobs {
        #[command(subcommand)]
        command: BlobsCommand,
    },
    /// Token signing keys: `easel keys rotate`.
    Keys {
        /// Data directory (default ./easel-data).
        #[arg(long, value_name = "DIR", global = true)]
        data_dir: Option<PathBuf>,
        /// The metadata database URL (`storage.database_url`).
        #[arg(long, value_name = "URL", global = true)]
        database_url: Option<String>,
        #[command(subcommand)]
        command: KeysCommand,
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
enum BlobsCommand {
    /// Copies every object from one blob store to another (e.g. the filesystem store to
    /// S3), reading each copy back to check its size and SHA-256. Resumable: verified
    /// objects are journaled and skipped when the command runs again.
    Copy {
        /// The source, as `storage.blobs_url` spells it: `file://PATH` or `s3://…`.
        #[arg(long, value_name = "URL")]
        from: String,
        /// The destination, likewise.
        #[arg(long, value_name = "URL")]
        to: String,
        /// Where verified copies are recorded.
        #[arg(long, value_name = "FILE", default_value = "easel-blobs-copy.journal")]
        journal: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum DbCommand {
    /// Bring the database's schema up to date, then exit.
    Migrate,
    /// Copy everything (accounts, keys, jobs, objects' metadata, history, usage) from
    /// SQLite to PostgreSQL; stop Easel first. Run it again to resume.
    Copy {
        /// The SQLite database: `sqlite://PATH` (e.g. sqlite://./easel-data/easel.db).
        #[arg(long, value_name = "URL")]
        from: String,
        /// The PostgreSQL database: `postgres://USER:PASSWORD@HOST:PORT/DB`.
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Add a new signing key; the old one stays published until its tokens expire.
    Rotate,
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
        Command::Serve {
            bind,
            data_dir,
            database_url,
            no_workers,
        } => {
            overrides.bind = bind;
            overrides.data_dir = data_dir;
            overrides.database_url = database_url;
            let mut config = Config::load(cli.config.as_deref(), &overrides)?;
            if no_workers {
                config.workers.in_process = false;
            }
            commands::serve::run(config)
        }
        Command::Worker {
            data_dir,
            database_url,
            drain,
        } => {
            overrides.data_dir = data_dir;
            overrides.database_url = database_url;
            let config = Config::load(cli.config.as_deref(), &overrides)?;
            commands::worker::run(config, drain)
        }
        Command::Blobs { command } => {
            let config = Config::load(cli.config.as_deref(), &overrides)?;
            match command {
                BlobsCommand::Copy { from, to, journal } => {
                    commands::blobs::copy(config, &from, &to, &journal)
                }
            }
        }
        Command::Db {
            data_dir,
            database_url,
            command,
        } => {
            overrides.data_dir = data_dir;
            overrides.database_url = database_url;
            let config = Config::load(cli.config.as_deref(), &overrides)?;
            match command {
                DbCommand::Migrate => commands::db::migrate(config),
                DbCommand::Copy { from, to } => commands::db::copy(config, &from, &to),
            }
        }
        Command::Process(args) => {
            let config = Config::load(cli.config.as_deref(), &overrides)?;
            let detection = config.detection.build(&config.storage.data_dir);
            commands::process::run(
                &args,
                &config.all_presets(),
                &config.limits,
                detection.as_ref(),
            )
        }
        Command::User {
            data_dir,
            database_url,
            args,
        } => {
            overrides.data_dir = data_dir;
            overrides.database_url = database_url;
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
        Command::Keys {
            data_dir,
            database_url,
            command: KeysCommand::Rotate,
        } => {
            overrides.data_dir = data_dir;
            overrides.database_url = database_url;
            let config = Config::load(cli.config.as_deref(), &overrides)?;
            commands::keys::rotate(config)
        }
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
