//! tasks-api's share of the HTTP hardening: JSON bodies answered by what
//! is wrong with them, the bearer scheme in any case, the shared headers,
//! and a database file only its owner can read.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ates_core::testing::{
    assert_bearer_any_case_and_no_store, assert_json_body_statuses, assert_nosniff_everywhere,
};
use auth_api::testing::TestApp as AuthApp;
use tasks_api::testing::TasksApp;

#[tokio::test]
async fn task_bodies_get_400_413_415_or_422_and_nothing_is_stored() {
    let auth = AuthApp::spawn().await;
    let tasks = TasksApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let admin = auth.admin_token().await;
    tasks
        .wait_for_account(&auth.account_id_of(&admin).await, true)
        .await;

    assert_json_body_statuses(&tasks.client, &tasks.url("/v1/tasks"), Some(&admin)).await;
    assert_bearer_any_case_and_no_store(&tasks.client, &tasks.url("/v1/tasks"), &admin).await;
    let page = tasks.list(&admin, "").await;
    assert_eq!(page.items.len(), 0, "{page:?}");
    assert_nosniff_everywhere(&tasks.client, &tasks.url("")).await;
}

#[cfg(unix)]
#[tokio::test]
async fn a_fresh_sqlite_database_is_created_owner_only() {
    let auth = AuthApp::spawn().await;
    let scratch = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}/data/tasks-api.sqlite?mode=rwc",
        scratch.path().display()
    );
    let tasks = TasksApp::spawn_with(&auth.broker, &auth.jwks_url(), |config| {
        config.database_url = url.clone();
    })
    .await;
    // Up and ready: its migrations have written.
    ates_core::testing::eventually(Duration::from_secs(20), "tasks-api ready", || async {
        let ready = tasks.client.get(tasks.url("/readyz")).send().await.ok()?;
        (ready.status() == reqwest::StatusCode::OK).then_some(())
    })
    .await;
    // The migrations wrote: SQLite has made its -wal file, checked too.
    let wal = scratch.path().join("data/tasks-api.sqlite-wal");
    assert!(wal.exists(), "{}", wal.display());
    ates_core::testing::assert_sqlite_owner_only(&url);
}
