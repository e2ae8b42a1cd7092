//! analytics-api: `serve` (the default), `rebuild` or `openapi`.

use analytics_api::config::Config;
use ates_core::config::ServiceConfig;
use ates_core::service::ServiceCommand;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "analytics-api", about = "aTES analytics")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Service(ServiceCommand),
    /// Empty the read models; the next start replays every stream (run it
    /// with the service stopped).
    Rebuild,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ates_core::telemetry::init();
    match Cli::parse().command {
        None => ServiceCommand::Serve.run::<analytics_api::Service>().await,
        Some(Command::Service(command)) => command.run::<analytics_api::Service>().await,
        Some(Command::Rebuild) => {
            analytics_api::rebuild(&Config::from_env()?).await?;
            println!("read models emptied; start analytics-api to replay the streams");
            Ok(())
        }
    }
}
