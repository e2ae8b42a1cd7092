//! tasks-api: the task tracker (docs/product.md §4).
//!
//! [`TasksApi`] is the service: `prepare` opens the database (migrations)
//! and the bus and loads auth's public keys; it then serves
//! [`routes::api`] and runs the outbox relay and the account-events
//! consumer until shutdown. Its configuration is the settings every service
//! reads (port 3002 by default); it has none of its own.

pub mod db;
pub mod domain;
pub mod events;
pub mod routes;
#[cfg(feature = "testing")]
pub mod testing;

use ates_core::auth::Authenticator;
use ates_core::batcher::Batcher;
use ates_core::bus::Outbox;
use ates_core::config::ServiceSettings;
use ates_core::http::health::Readiness;
use ates_core::metrics::{Counter, Metrics};
use ates_core::service::{AtesService, Foundation, Prepared};
use axum::extract::FromRef;
use sea_orm::DatabaseConnection;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::db::migrations::Migrator;
use crate::db::task;
use crate::domain::TaskError;
use crate::domain::tasks::{self, Creation};
use crate::events::AccountEvents;

/// Most task creations written in one transaction.
const CREATE_BATCH: usize = 256;

/// Task creations queued for the next group commit, and the created task
/// or why not.
pub type TaskCreator = Batcher<Creation, task::Model, TaskError>;

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
    pub counters: TaskCounters,
}

/// tasks-api's domain counters (`GET /metrics`).
#[derive(Debug, Clone)]
pub struct TaskCounters {
    /// Tasks created (`ates_tasks_created_total`).
    pub created: Counter,
    /// Tasks completed (`ates_tasks_completed_total`).
    pub completed: Counter,
}

impl TaskCounters {
    fn register(metrics: &Metrics) -> Self {
        Self {
            created: metrics.counter("ates_tasks_created", "Tasks created"),
            completed: metrics.counter("ates_tasks_completed", "Tasks completed"),
        }
    }
}

/// tasks-api as [`AtesService`]: how `main` and the tests start it.
#[derive(Debug)]
pub struct TasksApi;

impl AtesService for TasksApi {
    const NAME: &'static str = "tasks-api";
    const ABOUT: &'static str = "aTES task tracker";
    const DEFAULT_PORT: u16 = 3002;

    type Config = ServiceSettings;
    type State = AppState;
    type Events = AccountEvents;

    fn events(_config: &ServiceSettings, _metrics: &Metrics) -> AccountEvents {
        AccountEvents
    }

    fn api() -> OpenApiRouter<AppState> {
        routes::api()
    }

    /// Connects and migrates the database, connects the bus, loads auth's keys.
    async fn prepare(config: ServiceSettings) -> anyhow::Result<Prepared<Self>> {
        let Foundation {
            db,
            bus,
            authenticator,
            readiness,
            metrics,
        } = Foundation::open::<Migrator>(&config).await?;
        let state = AppState {
            creator: task_creator(db.clone(), bus.outbox()),
            outbox: bus.outbox(),
            db: db.clone(),
            authenticator,
            readiness,
            counters: TaskCounters::register(&metrics),
        };
        Ok(Prepared::new(state, db, bus, metrics, config))
    }

    /// The outbox relay and the consumer of account events.
    fn background(prepared: &Prepared<Self>, shutdown: &CancellationToken) -> Vec<JoinHandle<()>> {
        vec![
            prepared.spawn_relay(shutdown),
            prepared.spawn_consumer(shutdown),
        ]
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
