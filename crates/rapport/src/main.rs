//! `rapport`: the one binary. Subcommands serve the help desk, fill it with demo data,
//! migrate, administer, and benchmark.

mod admin;
mod bench;
mod config;
mod demo;

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
    /// Administer agents and API tokens.
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
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
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
            let summary = demo::ensure_demo_data(store.clone()).await?;
            serve(store, &config, Some(summary)).await
        }
        Command::Migrate => {
            let store = open_store(&config).await?;
            println!("database is up to date ({})", store.backend());
            store.close().await;
            Ok(())
        }
        Command::Admin(cmd) => {
            let store = open_store(&config).await?;
            let result = admin::run(cmd, store.as_ref()).await;
            store.close().await;
            result
        }
        Command::Bench(cmd) => bench::run(cmd).await,
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
        "  API:     {}/api/v1  (OpenAPI: {}/api/v1/openapi.json)",
        config.base_url, config.base_url
    );
    if let Some(summary) = demo {
        summary.print(&config.base_url);
    }
    let state = rapport_web::AppState {
        store: store.clone(),
    };
    rapport_web::serve(listener, state, shutdown_signal())
        .await
        .context("the HTTP server failed")?;
    store.close().await;
    println!("Rapport stopped.");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
