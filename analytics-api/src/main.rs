//! analytics-api: `serve` (the default), `openapi` or `rebuild`.

use analytics_api::AnalyticsApi;
use ates_core::service::config_from_env;

/// analytics-api's own commands.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Empty the read models; the next start replays every stream (run it
    /// with the service stopped).
    Rebuild,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ates_core::service::main_with::<AnalyticsApi, Command, _>(|command| async move {
        match command {
            Command::Rebuild => {
                analytics_api::rebuild(&config_from_env::<AnalyticsApi>()?).await?;
                println!("read models emptied; start analytics-api to replay the streams");
                Ok(())
            }
        }
    })
    .await
}
