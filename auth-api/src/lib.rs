//! auth-api: the shared authentication service (docs/product.md §3).
//!
//! [`AuthApi`] is the service: `prepare` opens the database (migrations,
//! the signing key, the bootstrap admin) and the bus; it then serves
//! [`routes::api`] and runs the outbox relay until shutdown. Tests drive
//! exactly this.

pub mod config;
pub mod db;
pub mod domain;
pub mod routes;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ates_core::auth::{Authenticator, TokenVerifier};
use ates_core::bus::consumer::NoEvents;
use ates_core::bus::{EventBus, Outbox};
use ates_core::http::health::Readiness;
use ates_core::metrics::{CounterBy, Metrics};
use ates_core::service::{AtesService, Prepared};
use axum::extract::FromRef;
use sea_orm::DatabaseConnection;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;

use crate::config::Config;
use crate::db::migrations::Migrator;
use crate::domain::accounts::{self, AdminBootstrap, SignUpPolicy};
use crate::domain::keys::{self, DatabaseKeys};
use crate::domain::passwords;
use crate::domain::sessions::SessionPolicy;
use crate::domain::throttle::{self, ThrottlePolicy};
use crate::routes::client::TrustedProxies;

/// What every request handler can reach. `FromRef` lets extractors take
/// their part of it: the `Authenticator` for `AuthUser`, the `Readiness`
/// for `/readyz`.
#[derive(Debug, Clone, FromRef)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub outbox: Outbox,
    pub authenticator: Authenticator,
    pub readiness: Readiness,
    pub sessions: Arc<SessionPolicy>,
    pub signup: Arc<SignUpPolicy>,
    pub signing_key_grace: Duration,
    /// Whose `X-Forwarded-For` names the client (`routes::client`).
    pub trusted_proxies: Arc<TrustedProxies>,
    /// Logins by outcome: `succeeded`, `refused` or `throttled`
    /// (`ates_logins_total`).
    pub logins: CounterBy,
}

/// auth-api as [`AtesService`]: how `main` and the tests start it.
#[derive(Debug)]
pub struct AuthApi;

impl AtesService for AuthApi {
    const NAME: &'static str = "auth-api";
    const ABOUT: &'static str = "aTES authentication service";
    const DEFAULT_PORT: u16 = 3001;

    type Config = Config;
    type State = AppState;
    type Events = NoEvents;

    fn events(_config: &Config, _metrics: &Metrics) -> NoEvents {
        NoEvents
    }

    fn api() -> OpenApiRouter<AppState> {
        routes::api()
    }

    /// Connects and migrates the database, makes sure a signing key exists,
    /// creates the bootstrap admin, connects the bus.
    async fn prepare(config: Config) -> anyhow::Result<Prepared<Self>> {
        passwords::configure(config.password_hashing);
        let settings = &config.service;
        let db = ates_core::db::open::<Migrator>(
            &settings.database_url,
            settings.database_max_connections,
        )
        .await?;
        keys::ensure_signing_key(&db).await?;
        let bus = EventBus::connect(&config.service.bus)
            .await
            .context("cannot set up the NATS connection")?;
        let outbox = bus.outbox();
        bootstrap_admin(&db, &outbox, &config).await?;
        let metrics = Metrics::new();

        let verifier = TokenVerifier::new(
            DatabaseKeys {
                db: db.clone(),
                grace: config.signing_key_grace,
            },
            &config.service.jwt_issuer,
            &config.service.jwt_audience,
        )
        // Its own key table is local and tiny: re-read it on any unknown kid,
        // so a key rotated by the CLI signs and verifies at once.
        .with_min_refresh_interval(Duration::ZERO);
        verifier
            .refresh()
            .await
            .map_err(|error| anyhow::anyhow!("cannot load the signing keys: {error}"))?;
        let state = AppState {
            db: db.clone(),
            outbox,
            authenticator: Authenticator {
                verifier: Arc::new(verifier),
                gate: Arc::new(accounts::AccountsGate(db.clone())),
            },
            readiness: Readiness {
                db: db.clone(),
                bus: bus.clone(),
            },
            sessions: Arc::new(session_policy(&config)),
            signup: Arc::new(config.signup.clone()),
            signing_key_grace: config.signing_key_grace,
            trusted_proxies: Arc::new(config.trusted_proxies.clone()),
            logins: metrics.counter_by(
                "ates_logins",
                "Logins by outcome (refused: wrong credentials, a deactivated account or a password to change first)",
                "outcome",
                &["succeeded", "refused", "throttled"],
            ),
        };
        Ok(Prepared::new(state, db, bus, metrics, config))
    }

    /// The outbox relay and the pruning of ended throttle windows.
    fn background(prepared: &Prepared<Self>, shutdown: &CancellationToken) -> Vec<JoinHandle<()>> {
        vec![
            prepared.spawn_relay(shutdown),
            tokio::spawn(prune_throttle_windows(
                prepared.db.clone(),
                shutdown.clone(),
            )),
        ]
    }
}

pub fn session_policy(config: &Config) -> SessionPolicy {
    SessionPolicy {
        issuer: config.service.jwt_issuer.clone(),
        audience: config.service.jwt_audience.clone(),
        access_token_ttl: config.access_token_ttl,
        refresh_token_ttl: config.refresh_token_ttl,
        throttle: ThrottlePolicy {
            email_max_checks: config.login_max_failures,
            email_window: config.login_failure_window,
            client_max_attempts: config.client_max_attempts,
            client_window: config.client_window,
        },
        password_checks: Arc::default(),
    }
}

/// `ATES_ADMIN_EMAIL` gets an admin account on first start. Without
/// `ATES_ADMIN_PASSWORD`, a random temporary password is generated and
/// printed once (to standard output, never to the logs): it must be changed
/// at the first login. A password from `ATES_ADMIN_PASSWORD` is the
/// operator's choice and is not temporary.
async fn bootstrap_admin(
    db: &DatabaseConnection,
    outbox: &Outbox,
    config: &Config,
) -> anyhow::Result<()> {
    let Some(email) = &config.admin_email else {
        return Ok(());
    };
    let (password, generated) = match &config.admin_password {
        Some(password) => (password.clone(), false),
        None => (passwords::generate(), true),
    };
    let outcome = accounts::ensure_admin(
        db,
        outbox,
        email,
        password.clone(),
        generated,
        ates_core::db::now(),
    )
    .await
    .map_err(|error| anyhow::anyhow!("cannot create the bootstrap admin: {error}"))?;
    if outcome == AdminBootstrap::Created {
        tracing::info!(%email, "created the bootstrap admin");
        if generated {
            println!(
                "bootstrap admin: {email} / temporary password: {password}  (shown once; it must be changed before the first login: POST /v1/auth/password)"
            );
        }
    }
    if config.signup.open && config.signup.allowed_domains.is_empty() {
        tracing::warn!(
            "self sign-up is open to every email domain; set SIGNUP_ALLOWED_DOMAINS or SIGNUP=closed to limit it"
        );
    }
    Ok(())
}

/// How often ended throttle windows are deleted.
const THROTTLE_PRUNE_INTERVAL: Duration = Duration::from_secs(60);

/// Deletes ended throttle windows every minute until `shutdown`, so
/// guesses at random emails and addresses do not grow the table for good.
async fn prune_throttle_windows(db: DatabaseConnection, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(THROTTLE_PRUNE_INTERVAL);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {
                if let Err(error) = throttle::prune(&db, ates_core::db::now()).await {
                    tracing::warn!(%error, "cannot delete ended throttle windows");
                }
            }
        }
    }
}
