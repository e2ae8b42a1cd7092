//! web-server: the browser app, the proxy to the services and the cookie
//! session (see the crate documentation).

use anyhow::Context;
use web_server::AppState;
use web_server::config::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ates_core::telemetry::init("web-server");
    let config = Config::from_env()?;
    let listener = tokio::net::TcpListener::bind(&config.bind_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind_addr))?;
    let state = AppState::new(config)?;
    web_server::run(listener, state, ates_core::shutdown::on_signal()).await
}
