//! The tasks-api test harness (feature `testing`): the real service on
//! 127.0.0.1:0 with a fresh database, on a broker and auth-api shared with
//! the other services of a test.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use ates_core::account_replica::entity as account;
use ates_core::config::ServiceSettings;
use ates_core::testing::{ApiClient, RunningService, TestedService, answer};
use reqwest::{Response, StatusCode};
use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::Value;

use crate::TasksApi;
use crate::routes::people::Person;
use crate::routes::tasks::{ShuffleResult, Task, TaskPage};

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
        answer(response, StatusCode::CREATED, &format!("create {title}")).await
    }

    /// `GET /v1/tasks/{id}`; the task must be there.
    pub async fn fetch(&self, token: &str, task_id: &str) -> Task {
        self.0.get_ok(&format!("/v1/tasks/{task_id}"), token).await
    }

    /// `GET /v1/tasks?{query}`: a page of every task.
    pub async fn list(&self, token: &str, query: &str) -> TaskPage {
        self.0.get_ok(&format!("/v1/tasks?{query}"), token).await
    }

    /// `GET /v1/tasks?{query}`: every matching task, page after page.
    pub async fn all(&self, token: &str, query: &str) -> Vec<Task> {
        self.0.get_all(&format!("/v1/tasks?{query}"), token).await
    }

    /// `GET /v1/tasks/mine?{query}`: all the caller's matching tasks, page
    /// after page.
    pub async fn all_mine(&self, token: &str, query: &str) -> Vec<Task> {
        self.0
            .get_all(&format!("/v1/tasks/mine?{query}"), token)
            .await
    }

    /// `GET /v1/tasks/mine?{query}`: a page of the caller's tasks.
    pub async fn mine(&self, token: &str, query: &str) -> TaskPage {
        self.0
            .get_ok(&format!("/v1/tasks/mine?{query}"), token)
            .await
    }

    /// `GET /v1/people`: everyone, page after page.
    pub async fn people(&self, token: &str) -> Vec<Person> {
        self.0.get_all("/v1/people", token).await
    }

    pub async fn complete(&self, token: &str, task_id: &str) -> Response {
        self.0
            .post(&format!("/v1/tasks/{task_id}/complete"), token, None)
            .await
    }

    pub async fn shuffle(&self, token: &str) -> Response {
        self.0.post("/v1/tasks/shuffle", token, None).await
    }

    /// Completes a task, which must succeed; returns it done.
    pub async fn completed(&self, token: &str, task_id: &str) -> Task {
        let response = self.complete(token, task_id).await;
        answer(response, StatusCode::OK, &format!("complete {task_id}")).await
    }

    /// Shuffles, which must succeed; returns how many tasks moved.
    pub async fn shuffled(&self, token: &str) -> ShuffleResult {
        let response = self.shuffle(token).await;
        answer(response, StatusCode::OK, "shuffle").await
    }
}

/// tasks-api's whole account replica, ordered by id.
pub async fn replica(db: &DatabaseConnection) -> Vec<account::Model> {
    let mut rows = account::Entity::find().all(db).await.unwrap();
    rows.sort_by_key(|row| row.id);
    rows
}
