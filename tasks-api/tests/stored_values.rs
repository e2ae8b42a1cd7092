//! A task status or a replicated role that no version of the code writes is
//! an internal error wherever it is read: never `open`, never `worker`.

#![allow(clippy::unwrap_used)]

use ates_core::testing::{problem, store_unknown_value};
use auth_api::testing::TestApp as AuthApp;
use event_schemas::tasks::TaskStatus;
use reqwest::StatusCode;
use tasks_api::testing::TasksApp;
use uuid::Uuid;

#[tokio::test]
async fn an_unknown_stored_task_status_is_an_internal_error() {
    let auth = AuthApp::spawn().await;
    let tasks = TasksApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let kesha = auth.account_with_role("kesha@popug.inc", "worker").await;
    tasks.wait_for_account(&kesha, true).await;
    let token = auth.access_token("kesha@popug.inc").await;
    let task = tasks.task(&token, "Fix the nest").await;
    let other = tasks.task(&token, "Feed the chicks").await;
    let id = task.id;
    store_unknown_value(&tasks.db, "tasks", "status", id, "archived").await;

    let one = tasks.get(&format!("/v1/tasks/{id}"), &token).await;
    problem(one, StatusCode::INTERNAL_SERVER_ERROR).await;
    let page = tasks.get("/v1/tasks", &token).await;
    problem(page, StatusCode::INTERNAL_SERVER_ERROR).await;
    let complete = tasks.complete(&token, &id.to_string()).await;
    problem(complete, StatusCode::INTERNAL_SERVER_ERROR).await;

    // The other task reads as it is.
    let other_id = &other.id.to_string();
    let read = tasks.fetch(&token, other_id).await;
    assert_eq!(read.status, TaskStatus::Open);
}

#[tokio::test]
async fn an_unknown_replicated_role_is_an_internal_error_not_a_worker() {
    let auth = AuthApp::spawn().await;
    let tasks = TasksApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let kesha = auth.account_with_role("kesha@popug.inc", "worker").await;
    tasks.wait_for_account(&kesha, true).await;
    let token = auth.access_token("kesha@popug.inc").await;
    let id = Uuid::parse_str(&kesha).unwrap();
    store_unknown_value(&tasks.db, "account_replica", "role", id, "superuser").await;

    // The gate reads the role to authorize: an error, not a guess.
    let mine = tasks.get("/v1/tasks/mine", &token).await;
    problem(mine, StatusCode::INTERNAL_SERVER_ERROR).await;
    let admin = auth.admin_token().await;
    let people = tasks.get("/v1/people", &admin).await;
    problem(people, StatusCode::INTERNAL_SERVER_ERROR).await;
}
