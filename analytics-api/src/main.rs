//! analytics-api: `serve` (the default), `rebuild` or `openapi`.

use analytics_api::config::Config;
use anyhow::Context;
use clap::{Parser, Subcommand};

/// The same allocator in every service: it hands freed memory back.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "analytics-api", about = "aTES analytics")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP and consume events (the default).
    Serve,
    /// Empty the read models; the next start replays every stream (run it
    /// with the service stopped).
    Rebuild,
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
            let service = analytics_api::prepare(config).await?;
            analytics_api::run(listener, service, ates_core::shutdown::on_signal()).await
        }
        Command::Rebuild => {
            analytics_api::rebuild(&Config::from_env()?).await?;
            println!("read models emptied; start analytics-api to replay the streams");
            Ok(())
        }
        Command::Openapi => {
            println!("{}", analytics_api::routes::openapi().to_pretty_json()?);
            Ok(())
        }
    }
}
