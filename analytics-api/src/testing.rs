//! The analytics-api test harness (feature `testing`): the real service on
//! 127.0.0.1:0 with a fresh database on a shared broker.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::ops::Deref;

use ates_core::testing::{RunningService, TestBroker, TestDatabase, service_settings};
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// analytics-api under test; derefs to the generic [`RunningService`].
pub struct AnalyticsApp(RunningService<Config>);

impl Deref for AnalyticsApp {
    type Target = RunningService<Config>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

async fn launch(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<(DatabaseConnection, JoinHandle<anyhow::Result<()>>)> {
    let service = crate::prepare(config).await?;
    let db = service.state.db.clone();
    Ok((db, tokio::spawn(crate::run(listener, service, shutdown))))
}

impl AnalyticsApp {
    pub async fn spawn(broker: &TestBroker, jwks_url: &str) -> Self {
        Self::spawn_with(broker, jwks_url, |_| {}).await
    }

    pub async fn spawn_with(
        broker: &TestBroker,
        jwks_url: &str,
        customize: impl FnOnce(&mut Config),
    ) -> Self {
        let database = TestDatabase::create().await;
        let mut config = Config {
            service: service_settings("analytics-api", &database, broker, jwks_url),
        };
        customize(&mut config);
        Self::start_on(database, config).await
    }

    /// Starts on an existing database (a restart).
    pub async fn start_on(database: TestDatabase, config: Config) -> Self {
        Self(RunningService::start(database, config, launch).await)
    }

    /// Stops the service and hands back its database.
    pub async fn stop(self) -> (TestDatabase, Config) {
        self.0.stop().await
    }
}
