//! tasks-api: the task tracker (docs/product.md §4).
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

use ates_core::auth::Authenticator;
use ates_core::batcher::Batcher;
use ates_core::bus::{ConsumerSettings, EventBus, Outbox, RelaySettings, consumer};
use ates_core::http::health::Readiness;
use ates_core::service::{AtesService, Foundation};
use axum::Router;
use axum::extract::FromRef;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use rand::SeedableRng;
use rand::rngs::StdRng;
use uuid::Uuid;

use crate::config::Config;
use crate::db::migrations::Migrator;
use crate::db::task;
use crate::domain::TaskError;
use crate::domain::tasks::{self, NewTask};
use crate::events::AccountEvents;

/// Most task creations written in one transaction.
const CREATE_BATCH: usize = 256;

/// Task creations queued for the next group commit: who creates what, and
/// the created task or why not.
pub type TaskCreator = Batcher<(Uuid, NewTask), task::Model, TaskError>;

/// What every request handler can reach. `FromRef` lets extractors take
/// their part of it: the `Authenticator` for `AuthUser`, the `Readiness`
/// for `/readyz`.
#[derive(Debug, Clone, FromRef)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub outbox: Outbox,
    pub creator: TaskCreator,
    pub authenticator: Authenticator,
    pub readiness: Readiness,
}

/// A prepared service.
#[derive(Debug)]
pub struct Service {
    pub state: AppState,
    pub bus: EventBus,
    pub config: Config,
}

impl AtesService for Service {
    const NAME: &'static str = "tasks-api";
    const ABOUT: &'static str = "aTES task tracker";

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
            creator: task_creator(db.clone(), bus.outbox()),
            outbox: bus.outbox(),
            db,
            authenticator,
            readiness,
        };
        Ok(Service { state, bus, config })
    }

    fn db(&self) -> &DatabaseConnection {
        &self.state.db
    }

    /// Serves HTTP, publishes the outbox and consumes account events until
    /// `shutdown`.
    async fn run(self, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
        let app = build_app(&self)?;
        let http = self.config.service.http.clone();
        let db = self.state.db.clone();
        let relay = self.bus.relay(db.clone(), RelaySettings::default());
        let relay = tokio::spawn(relay.run(shutdown.clone()));
        let consumer = tokio::spawn(consumer::run(
            self.bus.clone(),
            db,
            Arc::new(AccountEvents),
            ConsumerSettings::new(&self.config.service.consumer_name),
            shutdown.clone(),
        ));
        ates_core::http::serve_with_background(
            listener,
            app,
            &http,
            vec![relay, consumer],
            shutdown,
        )
        .await
    }
}

/// Starts the group commit of task creations (`POST /v1/tasks`).
fn task_creator(db: DatabaseConnection, outbox: Outbox) -> TaskCreator {
    Batcher::spawn(CREATE_BATCH, move |requests| {
        let (db, outbox) = (db.clone(), outbox.clone());
        async move {
            let mut rng = StdRng::from_os_rng();
            tasks::create_batch(&db, &outbox, requests, &mut rng, ates_core::db::now()).await
        }
    })
}

/// The HTTP application.
pub fn build_app(service: &Service) -> anyhow::Result<Router> {
    routes::router(service.state.clone(), &service.config.service.http)
}
