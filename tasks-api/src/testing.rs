//! The tasks-api test harness (feature `testing`): the real service on
//! 127.0.0.1:0 with a fresh database, on a broker and auth-api shared with
//! the other services of a test.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use ates_core::account_replica::entity as account;
use ates_core::testing::{TestBroker, TestDatabase, eventually, service_settings};
use reqwest::Response;
use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::Config;

pub struct TasksApp {
    pub address: String,
    pub client: reqwest::Client,
    pub database: TestDatabase,
    pub db: DatabaseConnection,
    shutdown: CancellationToken,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Drop for TasksApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

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
        ates_core::telemetry::init_for_tests();
        let database = TestDatabase::create().await;
        let mut config = Config {
            service: service_settings("tasks-api", &database, broker, jwks_url),
        };
        customize(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let service = crate::prepare(config).await.unwrap();
        let db = service.state.db.clone();
        let server = tokio::spawn(crate::run(listener, service, shutdown.clone()));
        Self {
            address,
            client: reqwest::Client::new(),
            database,
            db,
            shutdown,
            server: Some(server),
        }
    }

    /// Stops the service and waits for it to drain.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
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

    pub async fn post(&self, path: &str, token: &str, body: Option<&Value>) -> Response {
        let mut request = self.client.post(self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.unwrap()
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

    /// Waits until the replica knows `account_id` with `active`.
    pub async fn wait_for_account(&self, account_id: &str, active: bool) {
        let id = Uuid::parse_str(account_id).unwrap();
        eventually(Duration::from_secs(20), "the account replica", || async {
            let row = account::Entity::find_by_id(id).one(&self.db).await.unwrap();
            row.filter(|row| row.active == active && !row.email.is_empty())
                .map(|_| ())
        })
        .await;
    }

    /// Waits until the replica shows `account_id` with `role`.
    pub async fn wait_for_role(&self, account_id: &str, role: &str) {
        let id = Uuid::parse_str(account_id).unwrap();
        eventually(
            Duration::from_secs(20),
            "the role in the replica",
            || async {
                let row = account::Entity::find_by_id(id).one(&self.db).await.unwrap();
                row.filter(|row| row.role == role).map(|_| ())
            },
        )
        .await;
    }

    /// The whole replica, ordered by id.
    pub async fn replica(&self) -> Vec<account::Model> {
        let mut rows = account::Entity::find().all(&self.db).await.unwrap();
        rows.sort_by_key(|row| row.id);
        rows
    }
}
