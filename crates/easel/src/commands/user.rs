//! `easel user add|list|disable|enable|set-password|set-plan`: account administration on
//! the data directory's database (the server may be running).

use std::io::Read;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};
use easel_api::auth::passwords::generate_password;
use easel_core::{now_millis, rfc3339};
use easel_store::IdentityStore;

use crate::app::Stores;
use crate::config::Config;
use crate::users;

/// `easel user …`
#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account; prints a generated password unless --password-stdin.
    Add {
        /// Username (an email or a plain name).
        username: String,
        /// Give the account the admin role.
        #[arg(long)]
        admin: bool,
        /// Assign a usage plan.
        #[arg(long)]
        plan: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts.
    List,
    /// Disable an account: it can no longer sign in, refresh or use its API keys.
    Disable {
        /// Username.
        username: String,
    },
    /// Enable a disabled account.
    Enable {
        /// Username.
        username: String,
    },
    /// Set a password; prints a generated one unless --password-stdin. Clears lockouts
    /// and signs the account out everywhere.
    SetPassword {
        /// Username.
        username: String,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Assign a usage plan (or `--default`).
    SetPlan {
        /// Username.
        username: String,
        /// The plan name.
        #[arg(required_unless_present = "default")]
        plan: Option<String>,
        /// Go back to the default plan.
        #[arg(long)]
        default: bool,
    },
}

/// Runs a `user` subcommand.
pub fn run(args: UserArgs, config: Config) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let stores = Stores::open(&config).await?;
        execute(args.command, stores.metadata.as_ref(), &config).await
    })?;
    Ok(ExitCode::SUCCESS)
}

fn password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if !from_stdin {
        return Ok((generate_password(), true));
    }
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text)?;
    let text = text.trim_end_matches(['\n', '\r']).to_owned();
    if text.is_empty() {
        bail!("no password on standard input");
    }
    Ok((text, false))
}

async fn execute(
    command: UserCommand,
    store: &dyn IdentityStore,
    config: &Config,
) -> anyhow::Result<()> {
    let policy = &config.auth.password_policy;
    match command {
        UserCommand::Add {
            username,
            admin,
            plan,
            password_stdin,
        } => {
            if let Some(plan) = &plan
                && !config.plans.contains_key(plan)
            {
                bail!("no plan named `{plan}` in the configuration");
            }
            let (password, generated) = password(password_stdin)?;
            if let Err(message) = policy.check(&password) {
                bail!("{message}");
            }
            let user = users::add_user(store, &username, &password, admin, plan.as_deref())
                .await
                .map_err(|e| match e.downcast_ref::<easel_store::StoreError>() {
                    Some(easel_store::StoreError::Conflict) => {
                        anyhow::anyhow!("a user `{username}` already exists")
                    }
                    _ => e,
                })?;
            println!("created user {} ({})", user.username, user.id);
            if generated {
                println!("password: {password}");
            }
        }
        UserCommand::List => {
            println!(
                "{:<36}  {:<32}  {:<5}  {:<8}  {:<10}  created",
                "id", "username", "admin", "disabled", "plan"
            );
            for user in store.list_users().await? {
                println!(
                    "{:<36}  {:<32}  {:<5}  {:<8}  {:<10}  {}",
                    user.id,
                    user.username,
                    user.admin,
                    user.disabled,
                    user.plan.as_deref().unwrap_or("-"),
                    rfc3339(user.created_at)
                );
            }
        }
        UserCommand::Disable { username } => {
            let user = users::find(store, &username).await?;
            store.set_disabled(&user.id, true, now_millis()).await?;
            store
                .revoke_user_refresh_tokens(&user.id, now_millis())
                .await?;
            println!("disabled {}", user.username);
        }
        UserCommand::Enable { username } => {
            let user = users::find(store, &username).await?;
            store.set_disabled(&user.id, false, now_millis()).await?;
            println!("enabled {}", user.username);
        }
        UserCommand::SetPassword {
            username,
            password_stdin,
        } => {
            let (password, generated) = password(password_stdin)?;
            users::set_password(store, &username, &password, policy).await?;
            println!("password set for {}", username.trim().to_lowercase());
            if generated {
                println!("password: {password}");
            }
        }
        UserCommand::SetPlan {
            username,
            plan,
            default,
        } => {
            let plan = if default { None } else { plan };
            if let Some(plan) = &plan
                && !config.plans.contains_key(plan)
            {
                bail!("no plan named `{plan}` in the configuration");
            }
            let user = users::find(store, &username).await?;
            store
                .set_plan(&user.id, plan.as_deref(), now_millis())
                .await?;
            println!(
                "{} now has the {} plan",
                user.username,
                plan.as_deref().unwrap_or("default")
            );
        }
    }
    Ok(())
}
