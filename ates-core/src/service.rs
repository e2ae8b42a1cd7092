//! How a service starts: the [`AtesService`] trait that `main` and the test
//! harness both start a service through, and the [`Foundation`] a service
//! that verifies auth's tokens and keeps an account replica (tasks,
//! accounting, analytics) opens at start.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::FromRef;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;

use crate::account_replica::ReplicaGate;
use crate::auth::Authenticator;
use crate::bus::backlog::Sources;
use crate::bus::consumer::{self, EventHandler};
use crate::bus::{EventBus, RelaySettings};
use crate::config::{ServiceConfig, ServiceSettings};
use crate::http::HttpSettings;
use crate::http::health::Readiness;
use crate::idempotency::IdempotencyStore;
use crate::metrics::Metrics;
use crate::operations::DeadLetterCommand;

/// The database (migrated), the bus, the authenticator gated by the
/// account replica, the readiness probe over both, and the service's
/// metrics registry.
#[derive(Debug)]
pub struct Foundation {
    pub db: DatabaseConnection,
    pub bus: EventBus,
    pub authenticator: Authenticator,
    pub readiness: Readiness,
    pub metrics: Metrics,
}

impl Foundation {
    /// Opens and migrates the database with `M`, connects the bus and loads
    /// auth's public keys (or fetches them on the first token if auth-api
    /// is not up yet).
    pub async fn open<M: MigratorTrait>(settings: &ServiceSettings) -> anyhow::Result<Self> {
        let db =
            crate::db::open::<M>(&settings.database_url, settings.database_max_connections).await?;
        let bus = EventBus::connect(&settings.bus)
            .await
            .context("cannot set up the NATS connection")?;
        Ok(Self {
            authenticator: Authenticator {
                verifier: Arc::new(settings.token_verifier().await),
                gate: Arc::new(ReplicaGate(db.clone())),
            },
            readiness: Readiness {
                db: db.clone(),
                bus: bus.clone(),
            },
            db,
            bus,
            metrics: Metrics::new(),
        })
    }
}

/// The same allocator in every aTES program: mimalloc hands freed memory
/// back to the system (with the default one, every 19 MiB argon2 buffer of
/// auth-api stayed in the process).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What every aTES service is to the code that starts it: `main` (through
/// [`main`] or [`main_with`]) and the test harness
/// (`testing::RunningService`) start it the same way: [`Self::prepare`],
/// then [`Prepared::run`].
pub trait AtesService: Sized + Send + Sync + 'static {
    /// Its program's name (`tasks-api`): the envelope's `producer` and the
    /// default consumer name.
    const NAME: &'static str;
    /// One line for `--help`.
    const ABOUT: &'static str;
    /// The port it listens on by default (`127.0.0.1:PORT`).
    const DEFAULT_PORT: u16;

    /// Everything it reads from its environment.
    type Config: ServiceConfig;
    /// What its request handlers reach.
    type State: ServiceState;

    /// What it does with the events it consumes
    /// ([`NoEvents`](crate::bus::consumer::NoEvents) when it
    /// consumes none): its consumer's handler, and what `dead-letters
    /// replay` hands a letter to.
    type Events: EventHandler;

    /// Its events' handler, counting what they do in `metrics`.
    fn events(config: &Self::Config, metrics: &Metrics) -> Self::Events;

    /// Its routes with their OpenAPI description (`routes::api`).
    fn api() -> OpenApiRouter<Self::State>;

    /// Opens and migrates the database and connects the bus; nothing is
    /// served or consumed yet.
    fn prepare(config: Self::Config)
    -> impl Future<Output = anyhow::Result<Prepared<Self>>> + Send;

    /// Starts its background work (relay, consumers, schedulers), each
    /// running until `shutdown`.
    fn background(prepared: &Prepared<Self>, shutdown: &CancellationToken) -> Vec<JoinHandle<()>>;
}

/// What a service's handlers reach: cloned into every request, and
/// holding the authenticator (for `AuthUser` and the idempotency store)
/// and the readiness probe (for `/readyz`), which a state with
/// `#[derive(FromRef)]` and those fields has.
pub trait ServiceState: Clone + std::fmt::Debug + Send + Sync + 'static {
    fn authenticator(&self) -> Authenticator;
}

impl<T> ServiceState for T
where
    T: Clone + std::fmt::Debug + Send + Sync + 'static,
    Authenticator: FromRef<T>,
    Readiness: FromRef<T>,
{
    fn authenticator(&self) -> Authenticator {
        Authenticator::from_ref(self)
    }
}

/// Its OpenAPI document, as served at `/openapi.json`.
pub fn openapi<S: AtesService>() -> utoipa::openapi::OpenApi {
    crate::http::openapi_of(S::api())
}

/// A service's configuration read from the environment: the common
/// settings, then its own.
pub fn config_from_env<S: AtesService>() -> anyhow::Result<S::Config> {
    let settings = ServiceSettings::from_env(S::NAME, S::DEFAULT_PORT)?;
    S::Config::from_env(settings)
}

/// A service ready to run: its handlers' state, its database and bus, its
/// metrics registry, and the configuration it was prepared from.
#[derive(Debug)]
pub struct Prepared<S: AtesService> {
    pub state: S::State,
    pub db: DatabaseConnection,
    pub bus: EventBus,
    pub metrics: Metrics,
    pub config: S::Config,
}

impl<S: AtesService> Prepared<S> {
    pub fn new(
        state: S::State,
        db: DatabaseConnection,
        bus: EventBus,
        metrics: Metrics,
        config: S::Config,
    ) -> Self {
        Self {
            state,
            db,
            bus,
            metrics,
            config,
        }
    }

    /// The settings of its HTTP server.
    pub fn http(&self) -> &HttpSettings {
        &self.config.settings().http
    }

    /// The outbox relay, started: publishes what commands wrote.
    pub fn spawn_relay(&self, shutdown: &CancellationToken) -> JoinHandle<()> {
        let relay = self
            .bus
            .relay(self.db.clone(), RelaySettings::default())
            .with_metrics(self.metrics.relay());
        tokio::spawn(relay.run(shutdown.clone()))
    }

    /// The service's durable consumer, started: its
    /// [`AtesService::events`] apply each event they subscribe to.
    pub fn spawn_consumer(&self, shutdown: &CancellationToken) -> JoinHandle<()> {
        let handler = S::events(&self.config, &self.metrics);
        let subscriptions = handler.subscriptions();
        let events: Vec<&str> = subscriptions.iter().map(|(name, _)| *name).collect();
        let mut settings = self.config.settings().consumer();
        if self.config.settings().metrics {
            settings.metrics = Some(
                self.metrics
                    .consumer(&events, &consumer::domains_of(&subscriptions)),
            );
        }
        tokio::spawn(consumer::run(
            self.bus.clone(),
            self.db.clone(),
            Arc::new(handler),
            settings,
            shutdown.clone(),
        ))
    }

    /// Its HTTP application: the service's routes over its state, with the
    /// idempotency store (used by the routes wrapped in
    /// `idempotency::route`) and the shared conventions.
    pub fn app(&self) -> anyhow::Result<Router> {
        let store = IdempotencyStore::new(self.db.clone(), self.state.authenticator(), self.http());
        let sources = Sources {
            db: self.db.clone(),
            bus: self.bus.clone(),
            consumer: self.config.settings().consumer_name.clone(),
        };
        let observed = self
            .config
            .settings()
            .metrics
            .then_some((&self.metrics, sources));
        crate::http::service_app(
            S::api().layer(store.layer()),
            self.state.clone(),
            self.http(),
            observed,
        )
    }

    /// Serves HTTP on `listener` and runs the background work until
    /// `shutdown`, then drains.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let app = self.app()?;
        let background = S::background(&self, &shutdown);
        crate::http::serve_with_background(listener, app, self.http(), background, shutdown).await
    }
}

/// A service's `serve` command: listens on `bind_addr`, prepares the
/// service from `config` and runs it until SIGINT or SIGTERM.
async fn serve<S: AtesService>(bind_addr: &str, config: S::Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind(bind_addr)
        .await
        .with_context(|| format!("cannot listen on {bind_addr}"))?;
    let prepared = S::prepare(config).await?;
    prepared.run(listener, crate::shutdown::on_signal()).await
}

/// The commands every service has; [`main_with`] adds a service's own.
#[derive(Debug, Clone, Default, clap::Subcommand)]
enum ServiceCommand {
    /// Serve HTTP and run the service's background work (the default).
    #[default]
    Serve,
    /// Print the OpenAPI document.
    Openapi,
    /// The events this service's consumer could not apply: list, show,
    /// replay or discard them (needs NATS_URL and DATABASE_URL).
    DeadLetters {
        #[command(subcommand)]
        command: DeadLetterCommand,
    },
    /// Rebuild what the service builds from other services' events (the
    /// account replica; analytics' read models) by replaying their streams
    /// from the beginning; refused while an instance consumes them (needs
    /// NATS_URL and DATABASE_URL).
    Rebuild,
    /// Write a consistent copy of the database to FILE, while the service
    /// runs (needs DATABASE_URL; pg_dump on PostgreSQL).
    Backup { file: std::path::PathBuf },
    /// Replace the database with the backup in FILE, every instance
    /// stopped; the next start catches up from the streams (needs
    /// DATABASE_URL and NATS_URL; pg_restore on PostgreSQL).
    Restore { file: std::path::PathBuf },
}

impl ServiceCommand {
    /// Runs the command for service `S`.
    async fn run<S: AtesService>(self) -> anyhow::Result<()> {
        match self {
            ServiceCommand::Serve => {
                let config = config_from_env::<S>()?;
                let bind_addr = config.settings().bind_addr.clone();
                serve::<S>(&bind_addr, config).await
            }
            ServiceCommand::Openapi => {
                println!("{}", openapi::<S>().to_pretty_json()?);
                Ok(())
            }
            ServiceCommand::DeadLetters { command } => {
                let config = config_from_env::<S>()?;
                let events = S::events(&config, &Metrics::new());
                crate::operations::dead_letters(config.settings(), events, command).await
            }
            ServiceCommand::Rebuild => {
                let config = config_from_env::<S>()?;
                let events = S::events(&config, &Metrics::new());
                let replayed = crate::operations::rebuild(config.settings(), events).await?;
                for (domain, deliveries) in replayed {
                    println!("{domain}: replayed {deliveries} event(s)");
                }
                println!("rebuilt; the service goes on from here when it starts");
                Ok(())
            }
            ServiceCommand::Backup { file } => {
                crate::operations::backup(config_from_env::<S>()?.settings(), &file).await
            }
            ServiceCommand::Restore { file } => {
                let config = config_from_env::<S>()?;
                let events = S::events(&config, &Metrics::new());
                crate::operations::restore(config.settings(), &events, &file).await
            }
        }
    }
}

/// A service's command line: the common commands and its own `C`.
#[derive(Debug, clap::Parser)]
struct ServiceCli<C: clap::Subcommand> {
    #[command(subcommand)]
    command: Option<CliCommand<C>>,
}

#[derive(Debug, clap::Subcommand)]
enum CliCommand<C: clap::Subcommand> {
    #[command(flatten)]
    Common(ServiceCommand),
    #[command(flatten)]
    Own(C),
}

/// The commands of a service that has only the common ones.
#[derive(Debug, Clone, Copy, clap::Subcommand)]
enum NoOwnCommands {}

/// The whole `main` of a service with only the common commands: logs, the
/// command line (`serve` by default, or `openapi`), and the command.
pub async fn main<S: AtesService>() -> anyhow::Result<()> {
    main_with::<S, NoOwnCommands, _>(|command| async move { match command {} }).await
}

/// The whole `main` of a service with commands of its own (`C`): logs, the
/// command line (`serve` by default, `openapi`, or one of `C`, which `own`
/// runs).
pub async fn main_with<S, C, F>(own: impl FnOnce(C) -> F) -> anyhow::Result<()>
where
    S: AtesService,
    C: clap::Subcommand,
    F: Future<Output = anyhow::Result<()>>,
{
    use clap::{CommandFactory, FromArgMatches};
    crate::telemetry::init(S::NAME);
    let matches = ServiceCli::<C>::command()
        .name(S::NAME)
        .about(S::ABOUT)
        .get_matches();
    let result = match ServiceCli::<C>::from_arg_matches(&matches)?.command {
        None => ServiceCommand::Serve.run::<S>().await,
        Some(CliCommand::Common(command)) => command.run::<S>().await,
        Some(CliCommand::Own(command)) => own(command).await,
    };
    // The last spans, when traces are exported.
    tokio::task::block_in_place(crate::telemetry::flush);
    result
}
