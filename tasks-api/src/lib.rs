//! tasks-api: the task tracker (SPEC section 4).
//!
//! `prepare` opens the database (migrations) and the bus and loads auth's
//! public keys; `build_app` is the HTTP router; `run` serves it and runs the
//! outbox relay and the account-events consumer until shutdown.

pub mod config;
pub mod db;
pub mod domain;
pub mod events;
pub mod routes;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;

use anyhow::Context;
use ates_core::account_replica::ReplicaGate;
use ates_core::auth::Authenticator;
use ates_core::bus::{ConsumerSettings, EventBus, Outbox, RelaySettings, consumer};
use ates_core::http::health::Readiness;
use axum::Router;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::db::migrations::Migrator;
use crate::events::AccountEvents;

/// What every request handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub outbox: Outbox,
    pub authenticator: Authenticator,
    pub readiness: Readiness,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

ates_core::service_state!(AppState);

/// A prepared service.
#[derive(Debug)]
pub struct Service {
    pub state: AppState,
    pub bus: EventBus,
    pub config: Config,
}

/// Connects and migrates the database, connects the bus, loads auth's keys.
pub async fn prepare(config: Config) -> anyhow::Result<Service> {
    let settings = &config.service;
    let db =
        ates_core::db::open::<Migrator>(&settings.database_url, settings.database_max_connections)
            .await?;
    let bus = EventBus::connect(&settings.bus)
        .await
        .context("cannot set up the NATS connection")?;
    let state = AppState {
        db: db.clone(),
        outbox: bus.outbox(),
        authenticator: Authenticator {
            verifier: Arc::new(settings.token_verifier().await),
            gate: Arc::new(ReplicaGate(db.clone())),
        },
        readiness: Readiness {
            db,
            bus: bus.clone(),
        },
    };
    Ok(Service { state, bus, config })
}

/// The HTTP application.
pub fn build_app(service: &Service) -> anyhow::Result<Router> {
    routes::router(service.state.clone(), &service.config.service.http)
}

/// Serves HTTP, publishes the outbox and consumes account events until
/// `shutdown`.
pub async fn run(
    listener: TcpListener,
    service: Service,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let app = build_app(&service)?;
    let db = service.state.db.clone();
    let relay = service.bus.relay(db.clone(), RelaySettings::default());
    let relay = tokio::spawn(relay.run(shutdown.clone()));
    let consumer = tokio::spawn(consumer::run(
        service.bus.clone(),
        db,
        Arc::new(AccountEvents),
        ConsumerSettings::new(&service.config.service.consumer_name),
        shutdown.clone(),
    ));
    ates_core::http::serve_with_background(listener, app, vec![relay, consumer], shutdown).await
}
