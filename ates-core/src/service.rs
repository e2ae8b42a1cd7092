//! What a service that verifies auth's tokens and keeps an account replica
//! (tasks, accounting, analytics) opens at start.

use std::sync::Arc;

use anyhow::Context;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;

use crate::account_replica::ReplicaGate;
use crate::auth::Authenticator;
use crate::bus::EventBus;
use crate::config::ServiceSettings;
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
