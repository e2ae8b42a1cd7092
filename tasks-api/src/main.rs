//! tasks-api: `serve` (the default) or `openapi`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ates_core::service::main::<tasks_api::TasksApi>().await
}
