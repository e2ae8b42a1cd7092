//! The analytics-api test harness (feature `testing`): the real service on
//! 127.0.0.1:0 with a fresh database on a shared broker.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use ates_core::testing::{TestBroker, TestDatabase, service_settings};
use reqwest::Response;
use sea_orm::DatabaseConnection;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

pub struct AnalyticsApp {
    pub address: String,
    pub client: reqwest::Client,
    pub database: TestDatabase,
    pub db: DatabaseConnection,
    pub config: Config,
    shutdown: CancellationToken,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Drop for AnalyticsApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
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
        ates_core::telemetry::init_for_tests();
        let database = TestDatabase::create().await;
        let mut config = Config {
            service: service_settings("analytics-api", &database, broker, jwks_url),
        };
        customize(&mut config);
        Self::start_on(database, config).await
    }

    /// Starts on an existing database (a restart).
    pub async fn start_on(database: TestDatabase, config: Config) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let service = crate::prepare(config.clone()).await.unwrap();
        let db = service.state.db.clone();
        let server = tokio::spawn(crate::run(listener, service, shutdown.clone()));
        Self {
            address,
            client: reqwest::Client::new(),
            database,
            db,
            config,
            shutdown,
            server: Some(server),
        }
    }

    /// Stops the service and hands back its database.
    pub async fn stop(mut self) -> (TestDatabase, Config) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
        let database = std::mem::replace(&mut self.database, TestDatabase::placeholder());
        (database, self.config.clone())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}
