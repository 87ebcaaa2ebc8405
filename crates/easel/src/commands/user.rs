//! `easel user add|list|disable|enable|set-password|set-plan`: account administration on
//! the data directory's database (the server may be running). Principals of external
//! issuers appear in `list` once they have signed in, and `set-plan --external` gives
//! them a plan.

use std::io::Read;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};
use easel_core::{now_millis, rfc3339};
use easel_services::identity::passwords::generate_password;
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
        /// Username; with --external, the external principal's subject (`sub`).
        username: String,
        /// The plan name.
        #[arg(required_unless_present = "default")]
        plan: Option<String>,
        /// Go back to the default plan.
        #[arg(long)]
        default: bool,
        /// USERNAME is the subject of a principal of an external issuer (as `list`
        /// shows it once they have signed in).
        #[arg(long)]
        external: bool,
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
            list_external(store).await?;
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
            external,
        } => {
            let plan = if default { None } else { plan };
            if let Some(plan) = &plan
                && !config.plans.contains_key(plan)
            {
                bail!("no plan named `{plan}` in the configuration");
            }
            if external {
                return set_external_plan(store, &username, plan.as_deref()).await;
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

/// Prints the external principals seen so far, if any.
async fn list_external(store: &dyn IdentityStore) -> anyhow::Result<()> {
    let principals = store.list_external_principals().await?;
    if principals.is_empty() {
        return Ok(());
    }
    println!(
        "\nexternal principals (set a plan with `easel user set-plan --external SUBJECT PLAN`):"
    );
    println!(
        "{:<36}  {:<32}  {:<10}  {:<24}  issuer",
        "subject", "username", "plan", "first seen"
    );
    for principal in principals {
        println!(
            "{:<36}  {:<32}  {:<10}  {:<24}  {}",
            principal.id,
            principal.username.as_deref().unwrap_or("-"),
            principal.plan.as_deref().unwrap_or("-"),
            rfc3339(principal.created_at),
            principal.issuer
        );
    }
    Ok(())
}

/// Assigns a plan to an external principal. It must have signed in once: a subject
/// Easel never saw is much more likely a typo than a plan meant for later.
async fn set_external_plan(
    store: &dyn IdentityStore,
    subject: &str,
    plan: Option<&str>,
) -> anyhow::Result<()> {
    if !store.set_external_plan(subject, plan, now_millis()).await? {
        bail!(
            "no external principal `{subject}` has signed in yet (`easel user list` shows those that have)"
        );
    }
    println!(
        "external principal {subject} now has the {} plan",
        plan.unwrap_or("default")
    );
    Ok(())
}
