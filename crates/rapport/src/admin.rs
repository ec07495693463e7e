//! `rapport admin …`: agents and tokens from the command line.

use anyhow::{Context, bail};
use clap::Subcommand;
use rapport_core::{Actor, Role};
use rapport_store::{Ctx, InboxPatch, NewAgent, Store, StoreError};
use rapport_web::auth;
use std::io::Read;

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create an agent and print their initial password (or read it with --password-stdin).
    CreateAgent {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// admin, supervisor, agent or light_agent.
        #[arg(long, default_value = "agent")]
        role: String,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Create an API token for an agent; the token is printed once and stored only as a hash.
    CreateToken {
        /// The agent's email address.
        #[arg(long)]
        agent: String,
        /// A name to recognise the token by (e.g. "crm-sync").
        #[arg(long)]
        name: String,
    },
    /// Revoke an agent's API tokens with this name; requests with them are refused at once.
    RevokeToken {
        /// The agent's email address.
        #[arg(long)]
        agent: String,
        /// The name the token was created with.
        #[arg(long)]
        name: String,
    },
    /// Create an inbox that receives mail at one or more addresses (the first one sends).
    CreateInbox {
        #[arg(long)]
        name: String,
        /// An address mail is received at; repeat for several. The first is the sending address.
        #[arg(long = "address", required = true)]
        addresses: Vec<String>,
        /// The display name replies are sent under (default: the inbox name).
        #[arg(long)]
        from_name: Option<String>,
        /// The team new tickets go to, by name.
        #[arg(long)]
        team: Option<String>,
    },
    /// Print a single-use portal sign-in link for a customer (valid 20 minutes), to hand
    /// over yourself, e.g. when their mail does not arrive.
    PortalLink {
        /// The customer's email address.
        #[arg(long)]
        email: String,
    },
    /// Set a new password for an agent (generated and printed, or read with --password-stdin);
    /// their sessions end.
    ResetPassword {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

fn system() -> Ctx {
    Ctx {
        actor: Actor::SYSTEM,
        at: rapport_web::now(),
    }
}

pub async fn run(cmd: AdminCommand, store: &dyn Store, base_url: &str) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::PortalLink { email } => {
            let filter = rapport_store::CustomerFilter {
                email: Some(email.clone()),
                ..Default::default()
            };
            let customer = store
                .list_customers(&filter, rapport_store::PageRequest::first(1))
                .await?
                .items
                .into_iter()
                .next()
                .with_context(|| format!("--email: no customer has the email {email}"))?;
            let link =
                rapport_web::ui::portal::handed_over_link(store, base_url, customer.id).await?;
            println!(
                "portal sign-in link for {} (single use, 20 minutes):",
                customer.name
            );
            println!("{link}");
            Ok(())
        }
        AdminCommand::CreateInbox {
            name,
            addresses,
            from_name,
            team,
        } => {
            let team_id = match team {
                None => None,
                Some(team) => Some(
                    store
                        .list_teams()
                        .await?
                        .into_iter()
                        .find(|t| t.name.eq_ignore_ascii_case(&team))
                        .map(|t| t.id)
                        .with_context(|| format!("--team: no team is named '{team}'"))?,
                ),
            };
            let patch = InboxPatch {
                addresses: Some(addresses.clone()),
                from_name,
                ..InboxPatch::default()
            };
            let inbox = store
                .create_inbox(system(), &name, &addresses[0], team_id, patch)
                .await
                .map_err(store_error)?;
            println!(
                "created inbox '{}' (id {}) receiving at {}",
                inbox.name,
                inbox.id,
                inbox.addresses.join(", ")
            );
            Ok(())
        }
        AdminCommand::CreateAgent {
            email,
            name,
            role,
            password_stdin,
        } => {
            let role = Role::parse(&role).map_err(|e| anyhow::anyhow!("--role: {}", e.problem))?;
            if !role.is_staff() {
                bail!(
                    "--role: customers are not agents; use admin, supervisor, agent or light_agent"
                );
            }
            let (password, shown) = password(password_stdin)?;
            let hash = hash(password).await?;
            let agent = store
                .create_agent(
                    system(),
                    NewAgent {
                        email,
                        name,
                        role,
                        password_hash: Some(hash),
                    },
                )
                .await
                .map_err(store_error)?;
            println!(
                "created agent {} <{}> with role {} (id {})",
                agent.name,
                agent.email,
                agent.role.as_str(),
                agent.id
            );
            if let Some(p) = shown {
                println!("initial password: {p}");
            }
            Ok(())
        }
        AdminCommand::CreateToken { agent, name } => {
            let login = store
                .agent_login(&agent)
                .await?
                .with_context(|| format!("--agent: no agent has the email {agent}"))?;
            let token = auth::new_token();
            store
                .create_api_token(system(), login.agent.id, &name, &auth::token_hash(&token))
                .await
                .map_err(store_error)?;
            eprintln!(
                "API token '{name}' for {} (shown once; store it safely):",
                login.agent.email
            );
            println!("{token}");
            Ok(())
        }
        AdminCommand::RevokeToken { agent, name } => {
            let login = store
                .agent_login(&agent)
                .await?
                .with_context(|| format!("--agent: no agent has the email {agent}"))?;
            let revoked = store
                .revoke_api_tokens(system(), login.agent.id, &name)
                .await
                .map_err(store_error)?;
            if revoked == 0 {
                bail!(
                    "--name: {} has no active token named '{name}'",
                    login.agent.email
                );
            }
            println!(
                "revoked {revoked} token(s) named '{name}' of {}",
                login.agent.email
            );
            Ok(())
        }
        AdminCommand::ResetPassword {
            email,
            password_stdin,
        } => {
            let login = store
                .agent_login(&email)
                .await?
                .with_context(|| format!("--email: no agent has the email {email}"))?;
            let (password, shown) = password(password_stdin)?;
            let hash = hash(password).await?;
            store
                .set_agent_password(system(), login.agent.id, hash)
                .await
                .map_err(store_error)?;
            println!(
                "password reset for {}; their sessions have ended",
                login.agent.email
            );
            if let Some(p) = shown {
                println!("new password: {p}");
            }
            Ok(())
        }
    }
}

/// Store errors name a field; on the command line the flag is the field (`addresses[1]` →
/// `--address`, `from_name` → `--from-name`).
fn store_error(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::Invalid(i) => {
            let field = i.field.split('[').next().unwrap_or(&i.field);
            let flag = match field {
                "addresses" => "address".to_string(),
                other => other.replace('_', "-"),
            };
            anyhow::anyhow!("--{flag}: {}", i.problem)
        }
        other => anyhow::anyhow!(other),
    }
}

/// The password to set, and the text to show when we generated it.
fn password(from_stdin: bool) -> anyhow::Result<(String, Option<String>)> {
    if from_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the password from standard input")?;
        let password = text.trim_end_matches(['\r', '\n']).to_string();
        if password.chars().count() < 10 {
            bail!("the password must be at least 10 characters");
        }
        Ok((password, None))
    } else {
        let generated = auth::new_secret("");
        Ok((generated.clone(), Some(generated)))
    }
}

async fn hash(password: String) -> anyhow::Result<String> {
    Ok(tokio::task::spawn_blocking(move || auth::hash_password(&password)).await??)
}
