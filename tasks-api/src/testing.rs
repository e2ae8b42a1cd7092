//! The tasks-api test harness (feature `testing`): the real service on
//! 127.0.0.1:0 with a fresh database, on a broker and auth-api shared with
//! the other services of a test.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use ates_core::account_replica::entity as account;
use ates_core::config::ServiceSettings;
use ates_core::testing::{ApiClient, RunningService, TestedService};
use reqwest::Response;
use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::Value;

use crate::TasksApi;
use crate::routes::tasks::Task;

/// tasks-api under test, started as `main` starts it.
pub type TasksApp = RunningService<TasksApi>;

impl TestedService for TasksApi {
    type Client = TasksClient;

    fn client(http: ApiClient) -> TasksClient {
        TasksClient(http)
    }

    fn test_config(settings: ServiceSettings) -> ServiceSettings {
        settings
    }
}

/// tasks-api's endpoints as methods: the client every tasks-api test uses.
#[derive(Debug, Clone)]
pub struct TasksClient(ApiClient);

impl TasksClient {
    pub async fn create_task(&self, token: &str, body: &Value) -> Response {
        self.0.post("/v1/tasks", token, Some(body)).await
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
        self.0
            .post(&format!("/v1/tasks/{task_id}/complete"), token, None)
            .await
    }

    pub async fn shuffle(&self, token: &str) -> Response {
        self.0.post("/v1/tasks/shuffle", token, None).await
    }
}

/// tasks-api's whole account replica, ordered by id.
pub async fn replica(db: &DatabaseConnection) -> Vec<account::Model> {
    let mut rows = account::Entity::find().all(db).await.unwrap();
    rows.sort_by_key(|row| row.id);
    rows
}
