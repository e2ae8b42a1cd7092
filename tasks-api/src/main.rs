//! tasks-api: `serve` (the default) and the commands every service has.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ates_core::service::main::<tasks_api::TasksApi>().await
}
