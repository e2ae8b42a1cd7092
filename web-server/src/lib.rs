//! web-server: serves the browser app and stands between it and the
//! services.
//!
//! The app (`web/`, built into `WEB_DIST`) is served with an SPA fallback;
//! `/config.json` tells it where things are; `/api/<service>/` proxies to
//! the four services so the page talks only to its own origin; `/session/`
//! keeps the refresh token in an `HttpOnly` cookie. `build_app` is the
//! router, `run` serves it until shutdown, so tests drive exactly what
//! production runs.

pub mod config;
pub mod routes;
pub mod service;
#[cfg(feature = "testing")]
pub mod testing;
pub mod upstream;

use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::upstream::Upstreams;

/// What every request handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub upstreams: Upstreams,
}

impl AppState {
    pub fn new(config: Config) -> anyhow::Result<Self> {
        let upstreams = Upstreams::new(config.upstreams.clone(), config.upstream_timeout)?;
        Ok(Self {
            config: Arc::new(config),
            upstreams,
        })
    }
}

/// The HTTP application.
pub fn build_app(state: AppState) -> anyhow::Result<Router> {
    routes::router(state)
}

/// Serves the application until `shutdown`, then lets the requests in
/// flight finish.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let dist = state.config.web_dist.clone();
    if !routes::files::app_is_built(&dist).await {
        tracing::warn!("{}", routes::files::not_built_reason(&dist));
    }
    let http = state.config.http.clone();
    let app = build_app(state)?;
    ates_core::http::serve_with_background(listener, app, &http, Vec::new(), shutdown).await
}
