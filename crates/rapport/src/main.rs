//! `rapport`: the one binary. Subcommands serve the help desk, fill it with demo data,
//! migrate, administer, and benchmark.

mod admin;
mod backup;
mod bench;
mod bench_chat;
mod bench_cluster;
mod bench_memory;
mod bench_pages;
mod bench_search;
mod bench_seed;
mod bench_smtp;
mod bench_timers;
mod bench_views;
mod config;
mod delivery;
mod demo;
mod email;
mod lease;
mod scheduler;
mod webhooks;

use anyhow::Context;
use clap::{Parser, Subcommand};
use config::Config;
use rapport_store::Store;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "rapport",
    version,
    about = "Rapport: a self-hosted help desk built around good service"
)]
struct Cli {
    /// Configuration file (default: ./rapport.toml when present). RAPPORT_* variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the help desk (HTTP API) on the configured database.
    Serve,
    /// Run with realistic demo data (added once), and print the URL, logins and an API token.
    Demo,
    /// Bring the database schema up to date and exit.
    Migrate,
    /// Copy the SQLite database while Rapport runs (PostgreSQL: use pg_dump).
    Backup(backup::BackupArgs),
    /// Store one email read from standard input (for delivery by an existing mail server's
    /// pipe). Exits 0 once stored, 75 (try again later) when the database cannot take it, 67
    /// for an unknown inbox, 65 for a message over the size limit.
    MailIn {
        /// The inbox to file it in, by name.
        #[arg(
            long,
            conflicts_with = "recipient",
            required_unless_present = "recipient"
        )]
        inbox: Option<String>,
        /// The address it was sent to (an inbox address, plus-addressed reply addresses too).
        #[arg(long)]
        recipient: Option<String>,
        /// The envelope sender, for bounces and senders without a From header.
        #[arg(long)]
        sender: Option<String>,
    },
    /// Administer agents, API tokens and inboxes.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Measure throughput and latency (not a test; prints figures).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref(), |k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rapport: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    init_logging(&config.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rapport: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rapport: {e:#}");
            match e.downcast_ref::<Exit>() {
                Some(exit) => std::process::ExitCode::from(exit.code),
                None => std::process::ExitCode::FAILURE,
            }
        }
    }
}

fn init_logging(filter: &str) {
    // The IMAP client logs whole commands at trace level, LOGIN with its password included:
    // that target never goes beyond info, whatever the setting.
    let filter = tracing_subscriber::EnvFilter::try_new(format!("{filter},async_imap=info"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let store = open_store(&config).await?;
            serve(store, &config, None).await
        }
        Command::Demo => {
            let store = open_store(&config).await?;
            let mut summary = demo::ensure_demo_data(store.clone()).await?;
            summary
                .portal_link(store.as_ref(), &config.base_url)
                .await?;
            serve(store, &config, Some(summary)).await
        }
        Command::Migrate => {
            let store = open_store(&config).await?;
            println!("database is up to date ({})", store.backend());
            store.close().await;
            Ok(())
        }
        Command::Backup(args) => backup::run(&config, args).await,
        Command::MailIn {
            inbox,
            recipient,
            sender,
        } => {
            let store = open_store(&config)
                .await
                .map_err(|e| Exit::new(EX_TEMPFAIL, e))?;
            let result = mail_in(store.clone(), &config, inbox, recipient, sender).await;
            store.close().await;
            result.map_err(anyhow::Error::from)
        }
        Command::Admin(cmd) => {
            let store = open_store(&config).await?;
            let result = admin::run(cmd, store.as_ref(), &config.base_url).await;
            store.close().await;
            result
        }
        Command::Bench(cmd) => bench::run(cmd).await,
    }
}

/// sysexits codes a mail server's pipe understands: 75 means "try again later".
const EX_DATAERR: u8 = 65;
const EX_NOUSER: u8 = 67;
const EX_TEMPFAIL: u8 = 75;

/// An error with the exit code that goes with it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct Exit {
    code: u8,
    message: String,
}

impl Exit {
    fn new(code: u8, error: impl std::fmt::Display) -> Self {
        Self {
            code,
            message: format!("{error:#}"),
        }
    }
}

async fn mail_in(
    store: Arc<dyn Store>,
    config: &Config,
    inbox: Option<String>,
    recipient: Option<String>,
    sender: Option<String>,
) -> Result<(), Exit> {
    use tokio::io::AsyncReadExt;
    let limit = config.mail.max_message_bytes;
    let mut raw = Vec::new();
    tokio::io::stdin()
        .take(limit as u64 + 1)
        .read_to_end(&mut raw)
        .await
        .map_err(|e| Exit::new(EX_TEMPFAIL, format!("cannot read the message: {e}")))?;
    if raw.len() > limit {
        return Err(Exit::new(
            EX_DATAERR,
            format!("the message is over the {limit} byte limit (RAPPORT_SMTP_MAX_MESSAGE_SIZE)"),
        ));
    }
    let inbound = email::Inbound {
        secret: email::reply_secret(store.as_ref())
            .await
            .map_err(|e| Exit::new(EX_TEMPFAIL, e))?,
        store,
        max_attachment_bytes: config.mail.max_attachment_bytes,
    };
    let delivery = rapport_mail::Delivery {
        source: rapport_mail::Source::Pipe,
        envelope_from: sender,
        recipients: recipient.into_iter().collect(),
        inbox,
        raw,
    };
    match inbound.receive(delivery).await {
        Ok(outcome) => {
            println!("stored: {}", email::describe(&outcome));
            Ok(())
        }
        Err(rapport_mail::DeliveryError::Permanent(e)) => Err(Exit::new(EX_NOUSER, e)),
        Err(rapport_mail::DeliveryError::Temporary(e)) => Err(Exit::new(EX_TEMPFAIL, e)),
    }
}

async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    rapport_store::open(&config.database_url)
        .await
        .with_context(|| {
            format!(
                "cannot open the database {}",
                rapport_store::redact_url(&config.database_url)
            )
        })
}

async fn serve(
    store: Arc<dyn Store>,
    config: &Config,
    demo: Option<demo::Summary>,
) -> anyhow::Result<()> {
    let signal = shutdown_signal();
    let listener = tokio::net::TcpListener::bind(config.http)
        .await
        .with_context(|| format!("cannot listen on {} (RAPPORT_HTTP)", config.http))?;
    let local = listener.local_addr()?;
    println!(
        "Rapport is running at {} (listening on {local}, database: {})",
        config.base_url,
        store.backend()
    );
    println!(
        "  Agents:  {}/  (customer portal: {}/portal)",
        config.base_url, config.base_url
    );
    println!(
        "  API:     {}/api/v1  (OpenAPI: {}/api/v1/openapi.json)",
        config.base_url, config.base_url
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut workers = start_mail(store.clone(), config, stopped.clone()).await?;
    workers.push(tokio::spawn(scheduler::run(store.clone(), stopped.clone())));
    workers.push(tokio::spawn(
        webhooks::Dispatcher {
            store: store.clone(),
            lease: config.lease,
            client: webhooks::client().context("cannot set up the webhook HTTP client")?,
        }
        .run(stopped.clone()),
    ));
    if let Some(summary) = demo {
        summary.print(&config.base_url);
    }
    let state = rapport_web::AppState::new(
        store.clone(),
        rapport_web::ui::UiConfig {
            base_url: config.base_url.clone(),
        },
    )
    .with_trusted_proxies(config.trusted_proxies.clone());
    let mut http_stopped = stopped.clone();
    let http = rapport_web::serve(listener, state, async move {
        let _ = http_stopped.wait_for(|s| *s).await;
    });
    let signal = async {
        signal.await;
        let _ = stop.send(true);
    };
    let (served, ()) = tokio::join!(http, signal);
    served.context("the HTTP server failed")?;
    for task in workers {
        let _ = task.await;
    }
    store.close().await;
    println!("Rapport stopped.");
    Ok(())
}

/// Starts the SMTP listener, the IMAP pollers and the outbox worker; each stops when
/// `stopped` turns true.
async fn start_mail(
    store: Arc<dyn Store>,
    config: &Config,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let mail = &config.mail;
    let secret = email::reply_secret(store.as_ref()).await?;
    let inbound = Arc::new(email::Inbound {
        store: store.clone(),
        secret: secret.clone(),
        max_attachment_bytes: mail.max_attachment_bytes,
    });
    let mut tasks = Vec::new();
    let holder = lease::holder_name();
    if let Some(address) = mail.smtp {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| {
                format!(
                    "cannot listen for SMTP on {address} (RAPPORT_SMTP; \"off\" switches it off)"
                )
            })?;
        let tls = match &mail.tls {
            Some((cert, key)) => Some(
                rapport_mail::smtp_server::load_tls(cert, key)
                    .context("RAPPORT_SMTP_TLS_CERT / RAPPORT_SMTP_TLS_KEY")?,
            ),
            None => None,
        };
        println!(
            "  SMTP:    {}{}",
            listener.local_addr()?,
            if tls.is_some() { " (STARTTLS)" } else { "" }
        );
        let smtp_config = rapport_mail::smtp_server::SmtpConfig {
            hostname: mail.hostname.clone(),
            max_message_bytes: mail.max_message_bytes,
            tls,
            ..Default::default()
        };
        let mut smtp_stopped = stopped.clone();
        let sink: Arc<dyn rapport_mail::MailSink> = inbound.clone();
        tasks.push(tokio::spawn(async move {
            let shutdown = async move {
                let _ = smtp_stopped.wait_for(|s| *s).await;
            };
            if let Err(e) =
                rapport_mail::smtp_server::serve(listener, smtp_config, sink, shutdown).await
            {
                tracing::error!(error = %e, "the SMTP listener failed");
            }
        }));
    }
    for mailbox in &mail.imap {
        if store.inbox_by_name(&mailbox.inbox).await?.is_none() {
            anyhow::bail!(
                "imap: no inbox is named '{}' (create it with rapport admin create-inbox)",
                mailbox.inbox
            );
        }
        println!(
            "  IMAP:    polling {} on {}:{} into '{}'",
            mailbox.folder, mailbox.host, mailbox.port, mailbox.inbox
        );
        let sink: Arc<dyn rapport_mail::MailSink> = inbound.clone();
        // One node of a cluster polls each mailbox; the others stand by.
        let name = format!(
            "imap:{}@{}:{}/{}",
            mailbox.user, mailbox.host, mailbox.port, mailbox.folder
        );
        let mailbox = mailbox.clone();
        tasks.push(tokio::spawn(lease::run_while_held(
            store.clone(),
            name,
            holder.clone(),
            config.lease,
            stopped.clone(),
            move |work_stopped| {
                rapport_mail::imap::run(mailbox.clone(), sink.clone(), work_stopped)
            },
        )));
    }
    match &mail.relay {
        Some(relay) => {
            let sender = rapport_mail::sender::Sender::new(relay)
                .map_err(|e| anyhow::anyhow!("RAPPORT_SMTP_RELAY: {e}"))?;
            println!("  Mail out: via {}:{}", relay.host, relay.port);
            let mailer = email::Mailer {
                store,
                sender,
                secret,
                lease: config.lease,
            };
            tasks.push(tokio::spawn(mailer.run(stopped)));
        }
        None => println!(
            "  Mail out: not configured (set RAPPORT_SMTP_RELAY); replies wait in the outbox"
        ),
    }
    Ok(tasks)
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed when this is called, not when
/// the future is first polled, so a signal during start-up already stops cleanly.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    #[cfg(unix)]
    let mut interrupt =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    async move {
        #[cfg(unix)]
        {
            let term = async {
                match term.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let interrupt = async {
                match interrupt.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = term => {},
                _ = interrupt => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
