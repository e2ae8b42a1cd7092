//! The analytics-api test harness (feature `testing`): the real service on
//! 127.0.0.1:0 with a fresh database on a shared broker.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use ates_core::testing::{
    ApiClient, RunningService, TestBroker, TestDatabase, TestedService, service_settings,
};

use crate::config::Config;
use crate::routes::dashboard::{DailyMostExpensive, MostExpensive, Today};

/// analytics-api under test, started as `main` starts it.
pub type AnalyticsApp = RunningService<crate::Service>;

impl TestedService for crate::Service {
    type Client = AnalyticsClient;

    fn test_config(database: &TestDatabase, broker: &TestBroker, jwks_url: &str) -> Config {
        Config {
            service: service_settings("analytics-api", database, broker, jwks_url),
        }
    }
}

/// analytics-api's endpoints as methods: the client every analytics-api
/// test uses.
#[derive(Debug, Clone)]
pub struct AnalyticsClient {
    http: ApiClient,
}

impl From<ApiClient> for AnalyticsClient {
    fn from(http: ApiClient) -> Self {
        Self { http }
    }
}

impl AnalyticsClient {
    /// `GET /v1/dashboard/today`.
    pub async fn today(&self, token: &str) -> Today {
        self.http.get_ok("/v1/dashboard/today", token).await
    }

    /// `GET /v1/most-expensive-task?{query}`.
    pub async fn most_expensive_task(&self, token: &str, query: &str) -> MostExpensive {
        self.http
            .get_ok(&format!("/v1/most-expensive-task?{query}"), token)
            .await
    }

    /// `GET /v1/most-expensive-tasks/daily?{query}`.
    pub async fn most_expensive_daily(&self, token: &str, query: &str) -> Vec<DailyMostExpensive> {
        self.http
            .get_ok(&format!("/v1/most-expensive-tasks/daily?{query}"), token)
            .await
    }
}
