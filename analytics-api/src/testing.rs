//! The analytics-api test harness (feature `testing`): the real service on
//! 127.0.0.1:0 with a fresh database on a shared broker.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use ates_core::testing::{TestBroker, TestDatabase, service_settings};

use crate::config::Config;

ates_core::service_under_test!(
    /// analytics-api under test.
    AnalyticsApp,
    Config
);

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
}
