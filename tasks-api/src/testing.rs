//! The tasks-api test harness (feature `testing`): the real service on
//! 127.0.0.1:0 with a fresh database, on a broker and auth-api shared with
//! the other services of a test.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use ates_core::account_replica::entity as account;
use ates_core::testing::{
    ApiClient, RunningService, TestBroker, TestDatabase, TestedService, service_settings,
};
use reqwest::Response;
use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::Value;

use crate::config::Config;
use crate::routes::tasks::Task;

/// tasks-api under test, started as `main` starts it.
pub type TasksApp = RunningService<crate::Service>;

impl TestedService for crate::Service {
    type Client = TasksClient;

    fn test_config(database: &TestDatabase, broker: &TestBroker, jwks_url: &str) -> Config {
        Config {
            service: service_settings("tasks-api", database, broker, jwks_url),
        }
    }
}

/// tasks-api's endpoints as methods: the client every tasks-api test uses.
#[derive(Debug, Clone)]
pub struct TasksClient {
    http: ApiClient,
}

impl From<ApiClient> for TasksClient {
    fn from(http: ApiClient) -> Self {
        Self { http }
    }
}

impl TasksClient {
    pub async fn create_task(&self, token: &str, body: &Value) -> Response {
        self.http.post("/v1/tasks", token, Some(body)).await
    }

    /// Creates a task that must succeed; returns it.
    pub async fn task(&self, token: &str, title: &str) -> Task {
        let response = self
            .create_task(
                token,
                &serde_json::json!({"title": title, "description": "to do"}),
            )
            .await;
        assert_eq!(
            response.status(),
            reqwest::StatusCode::CREATED,
            "create {title}"
        );
        response.json().await.unwrap()
    }

    pub async fn complete(&self, token: &str, task_id: &str) -> Response {
        self.http
            .post(&format!("/v1/tasks/{task_id}/complete"), token, None)
            .await
    }

    pub async fn shuffle(&self, token: &str) -> Response {
        self.http.post("/v1/tasks/shuffle", token, None).await
    }
}

/// tasks-api's whole account replica, ordered by id.
pub async fn replica(db: &DatabaseConnection) -> Vec<account::Model> {
    let mut rows = account::Entity::find().all(db).await.unwrap();
    rows.sort_by_key(|row| row.id);
    rows
}
