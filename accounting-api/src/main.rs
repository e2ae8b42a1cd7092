//! accounting-api: `serve` (the default) or `openapi`.

use accounting_api::config::Config;
use anyhow::Context;
use clap::{Parser, Subcommand};

/// The same allocator in every service: it hands freed memory back.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "accounting-api", about = "aTES accounting")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP, keep the ledger, close business days (the default).
    Serve,
    /// Print the OpenAPI document.
    Openapi,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ates_core::telemetry::init();
    match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let config = Config::from_env()?;
            let listener = tokio::net::TcpListener::bind(&config.service.bind_addr)
                .await
                .with_context(|| format!("cannot listen on {}", config.service.bind_addr))?;
            let service = accounting_api::prepare(config).await?;
            accounting_api::run(listener, service, ates_core::shutdown::on_signal()).await
        }
        Command::Openapi => {
            println!("{}", accounting_api::routes::openapi().to_pretty_json()?);
            Ok(())
        }
    }
}
