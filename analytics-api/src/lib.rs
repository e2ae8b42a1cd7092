//! analytics-api: the admin dashboard (docs/product.md §6), built only from
//! events into its own read models.
//!
//! [`AnalyticsApi`] is the service: `prepare` opens the database
//! (migrations) and the bus; it then serves [`routes::api`] and consumes
//! events until shutdown. Its configuration is the settings every service
//! reads (port 3004 by default, `BUSINESS_TIMEZONE` for its days).
//! Everything it keeps is built from events, so `rebuild` (every
//! service's command) empties it all and replays every stream.

pub mod db;
pub mod domain;
pub mod events;
pub mod routes;
#[cfg(feature = "testing")]
pub mod testing;

use ates_core::auth::Authenticator;
use ates_core::calendar::BusinessCalendar;
use ates_core::config::ServiceSettings;
use ates_core::http::health::Readiness;
use ates_core::metrics::Metrics;
use ates_core::service::{AtesService, Foundation, Prepared};
use axum::extract::FromRef;
use sea_orm::DatabaseConnection;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;

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

/// analytics-api as [`AtesService`]: how `main` and the tests start it.
#[derive(Debug)]
pub struct AnalyticsApi;

impl AtesService for AnalyticsApi {
    const NAME: &'static str = "analytics-api";
    const ABOUT: &'static str = "aTES analytics";
    const DEFAULT_PORT: u16 = 3004;

    type Config = ServiceSettings;
    type State = AppState;
    type Events = AnalyticsEvents;

    fn events(_config: &ServiceSettings, _metrics: &Metrics) -> AnalyticsEvents {
        AnalyticsEvents
    }

    fn api() -> OpenApiRouter<AppState> {
        routes::api()
    }

    /// Connects and migrates the database, connects the bus, loads auth's keys.
    async fn prepare(config: ServiceSettings) -> anyhow::Result<Prepared<Self>> {
        let foundation = Foundation::open::<Migrator>(&config).await?;
        let state = AppState {
            db: foundation.db.clone(),
            authenticator: foundation.authenticator,
            readiness: foundation.readiness,
            calendar: BusinessCalendar::new(config.business_timezone),
        };
        Ok(Prepared::new(
            state,
            foundation.db,
            foundation.bus,
            foundation.metrics,
            config,
        ))
    }

    /// The consumer of every domain's events.
    fn background(prepared: &Prepared<Self>, shutdown: &CancellationToken) -> Vec<JoinHandle<()>> {
        vec![prepared.spawn_consumer(shutdown)]
    }
}
