//! accounting-api: prices, the ledger, balances, billing cycles and payouts
//! (docs/product.md §5).
//!
//! `prepare` opens the database (migrations, the first open cycle, any
//! interrupted close finished) and the bus; `build_app` is the HTTP router;
//! `run` serves it and runs the outbox relay, the consumer of account and
//! task events, the end-of-day scheduler and the mailer until shutdown.

pub mod config;
pub mod db;
pub mod domain;
pub mod events;
pub mod mailer;
pub mod routes;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;

use ates_core::auth::Authenticator;
use ates_core::bus::{ConsumerSettings, EventBus, Outbox, RelaySettings, consumer};
use ates_core::http::health::Readiness;
use ates_core::service::{AtesService, Foundation};
use axum::Router;
use axum::extract::FromRef;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::db::migrations::Migrator;
use crate::domain::billing;
use crate::domain::pricing::Pricing;
use crate::events::AccountingEvents;
use crate::mailer::Mailer;
use ates_core::calendar::BusinessCalendar;

/// What every request handler can reach. `FromRef` lets extractors take
/// their part of it: the `Authenticator` for `AuthUser`, the `Readiness`
/// for `/readyz`.
#[derive(Debug, Clone, FromRef)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub outbox: Outbox,
    pub authenticator: Authenticator,
    pub readiness: Readiness,
    pub calendar: BusinessCalendar,
    pub mailer: Mailer,
}

/// A prepared service.
#[derive(Debug)]
pub struct Service {
    pub state: AppState,
    pub bus: EventBus,
    pub config: Config,
}

impl AtesService for Service {
    const NAME: &'static str = "accounting-api";
    const ABOUT: &'static str = "aTES accounting";

    type Config = Config;

    fn openapi() -> utoipa::openapi::OpenApi {
        routes::openapi()
    }

    /// Connects and migrates the database, opens the first billing cycle,
    /// finishes any close a crash interrupted, connects the bus.
    async fn prepare(config: Config) -> anyhow::Result<Self> {
        let Foundation {
            db,
            bus,
            authenticator,
            readiness,
        } = Foundation::open::<Migrator>(&config.service).await?;
        let outbox = bus.outbox();
        let calendar = BusinessCalendar::new(config.service.business_timezone);
        let now = ates_core::db::now();
        billing::ensure_open_cycle(&db, &calendar, now).await?;
        billing::resume_closes(&db, &outbox, now).await?;
        let mailer = Mailer::new(db.clone(), config.smtp_url.as_deref(), &config.mail_from)?;
        let state = AppState {
            db,
            outbox,
            authenticator,
            readiness,
            calendar,
            mailer,
        };
        Ok(Service { state, bus, config })
    }

    fn db(&self) -> &DatabaseConnection {
        &self.state.db
    }

    /// Serves HTTP and runs the relay, the consumer, the scheduler and the
    /// mailer until `shutdown`.
    async fn run(self, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
        let app = build_app(&self)?;
        let http = self.config.service.http.clone();
        let state = self.state.clone();
        let mut background = vec![
            tokio::spawn(
                self.bus
                    .relay(state.db.clone(), RelaySettings::default())
                    .run(shutdown.clone()),
            ),
            tokio::spawn(consumer::run(
                self.bus.clone(),
                state.db.clone(),
                Arc::new(AccountingEvents {
                    pricing: Pricing::new(&self.config.pricing_seed),
                }),
                ConsumerSettings::new(&self.config.service.consumer_name),
                shutdown.clone(),
            )),
            tokio::spawn(state.mailer.clone().run(shutdown.clone())),
        ];
        if self.config.scheduler_enabled {
            background.push(tokio::spawn(run_scheduler(state, shutdown.clone())));
        }
        ates_core::http::serve_with_background(listener, app, &http, background, shutdown).await
    }
}

/// The HTTP application.
pub fn build_app(service: &Service) -> anyhow::Result<Router> {
    routes::router(service.state.clone(), &service.config.service.http)
}

/// Closes each business day at its midnight (and at start, a day that
/// ended while the service was down).
async fn run_scheduler(state: AppState, shutdown: CancellationToken) {
    loop {
        let now = ates_core::db::now();
        match billing::close_if_day_over(&state.db, &state.outbox, &state.calendar, now).await {
            Ok(Some(summary)) => {
                tracing::info!(date = %summary.cycle.business_date, payments = summary.cycle.payments_count, "closed the business day");
                state.mailer.notify();
            }
            Ok(None) => {}
            Err(error) => tracing::error!(%error, "end-of-day close failed; retrying in a minute"),
        }
        let until_midnight = (state.calendar.next_midnight(now) - now)
            .to_std()
            .unwrap_or_default()
            .min(std::time::Duration::from_secs(60));
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(until_midnight) => {}
        }
    }
    tracing::info!("billing scheduler stopped");
}
