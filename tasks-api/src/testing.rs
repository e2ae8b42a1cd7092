//! The tasks-api test harness (feature `testing`): the real service on
//! 127.0.0.1:0 with a fresh database, on a broker and auth-api shared with
//! the other services of a test.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use ates_core::account_replica::entity as account;
use ates_core::testing::{TestBroker, TestDatabase, service_settings};
use reqwest::Response;
use sea_orm::EntityTrait;
use serde_json::Value;

use crate::config::Config;

ates_core::service_under_test!(
    /// tasks-api under test.
    TasksApp,
    Config
);

impl TasksApp {
    /// Spawns tasks-api on `broker`, trusting the auth-api at `jwks_url`.
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
            service: service_settings("tasks-api", &database, broker, jwks_url),
        };
        customize(&mut config);
        Self::start_on(database, config).await
    }

    pub async fn create_task(&self, token: &str, body: &Value) -> Response {
        self.post("/v1/tasks", token, Some(body)).await
    }

    /// Creates a task that must succeed; returns it.
    pub async fn task(&self, token: &str, title: &str) -> Value {
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
        self.post(&format!("/v1/tasks/{task_id}/complete"), token, None)
            .await
    }

    pub async fn shuffle(&self, token: &str) -> Response {
        self.post("/v1/tasks/shuffle", token, None).await
    }

    /// The whole replica, ordered by id.
    pub async fn replica(&self) -> Vec<account::Model> {
        let mut rows = account::Entity::find().all(&self.db).await.unwrap();
        rows.sort_by_key(|row| row.id);
        rows
    }
}
