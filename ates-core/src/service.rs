//! How a service starts: the [`AtesService`] trait that `main` and the test
//! harness both start a service through, and the [`Foundation`] a service
//! that verifies auth's tokens and keeps an account replica (tasks,
//! accounting, analytics) opens at start.

use std::sync::Arc;

use anyhow::Context;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::account_replica::ReplicaGate;
use crate::auth::Authenticator;
use crate::bus::EventBus;
use crate::config::{ServiceConfig, ServiceSettings};
use crate::http::health::Readiness;

/// The database (migrated), the bus, the authenticator gated by the
/// account replica, and the readiness probe over both.
#[derive(Debug)]
pub struct Foundation {
    pub db: DatabaseConnection,
    pub bus: EventBus,
    pub authenticator: Authenticator,
    pub readiness: Readiness,
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
        })
    }
}

/// The same allocator in every aTES program: mimalloc hands freed memory
/// back to the system (with the default one, every 19 MiB argon2 buffer of
/// auth-api stayed in the process).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What every aTES service is to the code that starts it: `main` (through
/// [`main`] or [`ServiceCommand::run`]) and the test harness
/// (`testing::RunningService`) start it the same way.
pub trait AtesService: Sized + Send + 'static {
    /// Its program's name (`tasks-api`).
    const NAME: &'static str;
    /// One line for `--help`.
    const ABOUT: &'static str;

    /// Everything it reads from its environment.
    type Config: ServiceConfig;

    /// Its OpenAPI document, as served at `/openapi.json`.
    fn openapi() -> utoipa::openapi::OpenApi;

    /// Opens and migrates the database and connects the bus; nothing is
    /// served or consumed yet.
    fn prepare(config: Self::Config) -> impl Future<Output = anyhow::Result<Self>> + Send;

    /// Its own database.
    fn db(&self) -> &DatabaseConnection;

    /// Serves HTTP on `listener` and runs its background work (relay,
    /// consumers, schedulers) until `shutdown`, then drains.
    fn run(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// A service's `serve` command: listens on `bind_addr`, prepares the
/// service from `config` and runs it until SIGINT or SIGTERM.
pub async fn serve<S: AtesService>(bind_addr: &str, config: S::Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind(bind_addr)
        .await
        .with_context(|| format!("cannot listen on {bind_addr}"))?;
    let service = S::prepare(config).await?;
    service.run(listener, crate::shutdown::on_signal()).await
}

/// The commands every service has; a service with more flattens these into
/// its own `Subcommand` enum.
#[derive(Debug, Clone, Copy, Default, clap::Subcommand)]
pub enum ServiceCommand {
    /// Serve HTTP and run the service's background work (the default).
    #[default]
    Serve,
    /// Print the OpenAPI document.
    Openapi,
}

impl ServiceCommand {
    /// Runs the command for service `S`.
    pub async fn run<S: AtesService>(self) -> anyhow::Result<()> {
        match self {
            ServiceCommand::Serve => {
                let config = S::Config::from_env()?;
                let bind_addr = config.settings().bind_addr.clone();
                serve::<S>(&bind_addr, config).await
            }
            ServiceCommand::Openapi => {
                println!("{}", S::openapi().to_pretty_json()?);
                Ok(())
            }
        }
    }
}

/// The command line of a service that has only the common commands.
#[derive(Debug, clap::Parser)]
struct ServiceCli {
    #[command(subcommand)]
    command: Option<ServiceCommand>,
}

/// The whole `main` of a service with only the common commands: logs, the
/// command line (`serve` by default, or `openapi`), and the command.
pub async fn main<S: AtesService>() -> anyhow::Result<()> {
    use clap::{CommandFactory, FromArgMatches};
    crate::telemetry::init();
    let matches = ServiceCli::command()
        .name(S::NAME)
        .about(S::ABOUT)
        .get_matches();
    let cli = ServiceCli::from_arg_matches(&matches)?;
    cli.command.unwrap_or_default().run::<S>().await
}
