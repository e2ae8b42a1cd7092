//! analytics-api: the admin dashboard (docs/product.md §6), built only from
//! events into its own read models.
//!
//! `prepare` opens the database (migrations) and the bus; `build_app` is the
//! HTTP router; `run` serves it and consumes events until shutdown;
//! `rebuild` empties the read models so the next start replays every
//! stream from the beginning.

pub mod config;
pub mod db;
pub mod domain;
pub mod events;
pub mod routes;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;

use ates_core::auth::Authenticator;
use ates_core::bus::{ConsumerSettings, EventBus, consumer};
use ates_core::calendar::BusinessCalendar;
use ates_core::http::health::Readiness;
use ates_core::service::{AtesService, Foundation};
use axum::Router;
use axum::extract::FromRef;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::db::migrations::Migrator;
use crate::events::AnalyticsEvents;

/// What every request handler can reach. `FromRef` lets extractors take
/// their part of it: the `Authenticator` for `AuthUser`, the `Readiness`
/// for `/readyz`.
#[derive(Debug, Clone, FromRef)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub authenticator: Authenticator,
    pub readiness: Readiness,
    pub calendar: BusinessCalendar,
}

/// A prepared service.
#[derive(Debug)]
pub struct Service {
    pub state: AppState,
    pub bus: EventBus,
    pub config: Config,
}

impl AtesService for Service {
    const NAME: &'static str = "analytics-api";
    const ABOUT: &'static str = "aTES analytics";

    type Config = Config;

    fn openapi() -> utoipa::openapi::OpenApi {
        routes::openapi()
    }

    /// Connects and migrates the database, connects the bus, loads auth's keys.
    async fn prepare(config: Config) -> anyhow::Result<Self> {
        let Foundation {
            db,
            bus,
            authenticator,
            readiness,
        } = Foundation::open::<Migrator>(&config.service).await?;
        let state = AppState {
            db,
            authenticator,
            readiness,
            calendar: BusinessCalendar::new(config.service.business_timezone),
        };
        Ok(Service { state, bus, config })
    }

    fn db(&self) -> &DatabaseConnection {
        &self.state.db
    }

    /// Serves HTTP and consumes events until `shutdown`.
    async fn run(self, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
        let app = build_app(&self)?;
        let http = self.config.service.http.clone();
        let consumer = tokio::spawn(consumer::run(
            self.bus.clone(),
            self.state.db.clone(),
            Arc::new(AnalyticsEvents),
            ConsumerSettings::new(&self.config.service.consumer_name),
            shutdown.clone(),
        ));
        ates_core::http::serve_with_background(listener, app, &http, vec![consumer], shutdown).await
    }
}

async fn open_database(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let settings = &config.service;
    ates_core::db::open::<Migrator>(&settings.database_url, settings.database_max_connections).await
}

/// The HTTP application.
pub fn build_app(service: &Service) -> anyhow::Result<Router> {
    routes::router(service.state.clone(), &service.config.service.http)
}

/// Empties the read models and this service's record of processed events,
/// and deletes its durable consumers: the next start replays every stream
/// from the beginning and builds the read models anew. Run it with the
/// service stopped.
pub async fn rebuild(config: &Config) -> anyhow::Result<()> {
    let db = open_database(config).await?;
    let bus = EventBus::connect(&config.service.bus).await?;
    consumer::delete_durable(&bus, &config.service.consumer_name)
        .await
        .map_err(|error| anyhow::anyhow!("cannot delete the durable consumers: {error}"))?;
    domain::read_models::forget_everything(&db, &config.service.consumer_name).await?;
    Ok(())
}
