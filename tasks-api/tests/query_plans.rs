//! Every list of tasks-api reads its large tables through an index: with
//! 30,000 tasks and 12,000 people (after `ANALYZE`), each statement the
//! lists run over HTTP is explained by the database, and none reads the
//! tasks or the people whole (PostgreSQL: no sequential scan; SQLite: no
//! `SCAN` without an index).

#![allow(clippy::unwrap_used)]

use ates_core::testing::{
    SqlLog, assert_no_whole_table_reads, large_tables, seed_replica, whole_table_reads,
};
use auth_api::testing::TestApp as AuthApp;
use sea_orm::{ActiveValue::Set, EntityTrait};
use tasks_api::db::task;
use tasks_api::routes::tasks::TaskPage;
use tasks_api::testing::TasksApp;
use uuid::Uuid;

const TASKS: usize = 30_000;
const PEOPLE: usize = 12_000;

#[tokio::test]
async fn every_list_reads_the_large_tables_through_an_index() {
    let log = SqlLog::install();
    let auth = AuthApp::spawn().await;
    let tasks = TasksApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let kesha = auth.account_with_role("kesha@popug.inc", "worker").await;
    tasks.wait_for_account(&kesha, true).await;
    let token = auth.access_token("kesha@popug.inc").await;
    let kesha: Uuid = kesha.parse().unwrap();

    let now = ates_core::db::now();
    let people: Vec<Uuid> = (0..PEOPLE).map(|_| Uuid::now_v7()).collect();
    seed_replica(&tasks.db, &people).await;
    // Kesha has 1 task in 100, each other person 2 or 3; a third of all
    // tasks are done.
    let rows: Vec<task::ActiveModel> = (0..TASKS)
        .map(|index| {
            let at = now - chrono::TimeDelta::seconds(i64::try_from(index).unwrap());
            let done = index % 3 == 0;
            task::ActiveModel {
                id: Set(Uuid::now_v7()),
                title: Set(format!("Task {index}")),
                jira_id: Set(None),
                description: Set(String::new()),
                status: Set(if done { "done" } else { "open" }.into()),
                assignee_id: Set(if index % 100 == 0 {
                    kesha
                } else {
                    people[index % PEOPLE]
                }),
                created_by: Set(kesha),
                created_at: Set(at),
                updated_at: Set(at),
                completed_at: Set(done.then_some(at)),
                revision: Set(1),
            }
        })
        .collect();
    for chunk in rows.chunks(1_000) {
        task::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&tasks.db)
            .await
            .unwrap();
    }
    let large = large_tables(&tasks.db, 10_000).await;
    assert!(large.contains(&"tasks".to_owned()), "{large:?}");
    assert!(large.contains(&"account_replica".to_owned()), "{large:?}");

    log.start();
    // Tasks 3, 12,003 and 24,003: all three done.
    let other = people[3];
    for query in [
        String::new(),
        "status=open".to_owned(),
        "status=done".to_owned(),
        format!("assignee_id={other}"),
        format!("assignee_id={other}&status=done"),
    ] {
        let path = format!("/v1/tasks?per_page=1&{query}");
        let first: TaskPage = tasks.get_ok(&path, &token).await;
        let cursor = first.next_cursor.expect("a second page");
        let _: TaskPage = tasks
            .get_ok(&format!("{path}&cursor={cursor}"), &token)
            .await;
    }
    for query in ["", "status=open", "status=done"] {
        let first: TaskPage = tasks
            .get_ok(&format!("/v1/tasks/mine?{query}"), &token)
            .await;
        let cursor = first.next_cursor.expect("a second page");
        let second: TaskPage = tasks
            .get_ok(&format!("/v1/tasks/mine?{query}&cursor={cursor}"), &token)
            .await;
        let _ = tasks
            .get_ok::<tasks_api::routes::tasks::Task>(
                &format!("/v1/tasks/{}", second.items[0].id),
                &token,
            )
            .await;
    }
    let first: tasks_api::routes::people::PeoplePage =
        tasks.get_ok("/v1/people?per_page=100", &token).await;
    let cursor = first.next_cursor.expect("more people");
    let _: tasks_api::routes::people::PeoplePage = tasks
        .get_ok(&format!("/v1/people?per_page=100&cursor={cursor}"), &token)
        .await;
    let statements = log.stop();
    for table in ["tasks", "account_replica"] {
        assert!(
            statements
                .iter()
                .any(|sql| sql.contains(&format!("\"{table}\""))),
            "no statement read {table}: {statements:#?}"
        );
    }
    assert_no_whole_table_reads(&tasks.db, &statements, &large).await;
    // The check can fail: a filter no index serves reads the tasks whole.
    let unindexed = whole_table_reads(
        &tasks.db,
        "SELECT * FROM tasks WHERE description = 'x'",
        &large,
    )
    .await;
    assert_eq!(unindexed.len(), 1, "{unindexed:?}");
}
