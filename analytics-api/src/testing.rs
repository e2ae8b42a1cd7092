//! The analytics-api test harness (feature `testing`): the real service on
//! 127.0.0.1:0 with a fresh database on a shared broker.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use ates_core::config::ServiceSettings;
use ates_core::testing::{ApiClient, RunningService, TestedService};

use crate::AnalyticsApi;
use crate::routes::dashboard::{DailyMostExpensive, MostExpensive, Today};

/// analytics-api under test, started as `main` starts it.
pub type AnalyticsApp = RunningService<AnalyticsApi>;

impl TestedService for AnalyticsApi {
    type Client = AnalyticsClient;

    fn client(http: ApiClient) -> AnalyticsClient {
        AnalyticsClient(http)
    }

    fn test_config(settings: ServiceSettings) -> ServiceSettings {
        settings
    }
}

/// analytics-api's endpoints as methods: the client every analytics-api
/// test uses.
#[derive(Debug, Clone)]
pub struct AnalyticsClient(ApiClient);

impl AnalyticsClient {
    /// `GET /v1/dashboard/today`.
    pub async fn today(&self, token: &str) -> Today {
        self.0.get_ok("/v1/dashboard/today", token).await
    }

    /// `GET /v1/most-expensive-task?{query}`.
    pub async fn most_expensive_task(&self, token: &str, query: &str) -> MostExpensive {
        self.0
            .get_ok(&format!("/v1/most-expensive-task?{query}"), token)
            .await
    }

    /// `GET /v1/most-expensive-tasks/daily?{query}`.
    pub async fn most_expensive_daily(&self, token: &str, query: &str) -> Vec<DailyMostExpensive> {
        self.0
            .get_ok(&format!("/v1/most-expensive-tasks/daily?{query}"), token)
            .await
    }
}
