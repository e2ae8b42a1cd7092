//! auth-api's account list and lookups read the accounts through an index:
//! with 20,000 accounts (after `ANALYZE`), each statement they run over
//! HTTP is explained by the database, and none reads the accounts whole.

#![allow(clippy::unwrap_used)]

use ates_core::testing::{SqlLog, assert_no_whole_table_reads, large_tables};
use auth_api::db::account;
use auth_api::routes::accounts::AccountPage;
use auth_api::testing::TestApp;
use reqwest::StatusCode;
use sea_orm::{ActiveValue::Set, EntityTrait};
use uuid::Uuid;

const ACCOUNTS: usize = 20_000;

#[tokio::test]
async fn the_account_list_and_lookups_read_the_accounts_through_an_index() {
    let log = SqlLog::install();
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let db = ates_core::db::connect(app.database.url(), 2).await.unwrap();
    let now = ates_core::db::now();
    let ids: Vec<Uuid> = (0..ACCOUNTS).map(|_| Uuid::now_v7()).collect();
    for chunk in ids.chunks(1_000) {
        account::Entity::insert_many(chunk.iter().map(|&id| account::ActiveModel {
            id: Set(id),
            email: Set(format!("{id}@popug.inc")),
            full_name: Set(format!("Popug {id}")),
            role: Set("worker".into()),
            active: Set(true),
            password_hash: Set(String::new()),
            created_at: Set(now),
            updated_at: Set(now),
            revision: Set(1),
            must_change_password: Set(false),
            credentials_changed_at: Set(None),
        }))
        .exec_without_returning(&db)
        .await
        .unwrap();
    }
    let large = large_tables(&db, 10_000).await;
    assert!(large.contains(&"accounts".to_owned()), "{large:?}");

    log.start();
    let first = app.get("/v1/accounts?per_page=100", Some(&admin)).await;
    assert_eq!(first.status(), StatusCode::OK);
    let first: AccountPage = first.json().await.unwrap();
    let cursor = first.next_cursor.expect("more accounts");
    let second = app
        .get(
            &format!("/v1/accounts?per_page=100&cursor={cursor}"),
            Some(&admin),
        )
        .await;
    assert_eq!(second.status(), StatusCode::OK);
    let one = app.account(&admin, &ids[ACCOUNTS / 2].to_string()).await;
    assert_eq!(one.id, ids[ACCOUNTS / 2]);
    app.me(&admin).await;
    let statements = log.stop();
    assert!(
        statements.iter().any(|sql| sql.contains("\"accounts\"")),
        "no statement read the accounts: {statements:#?}"
    );
    assert_no_whole_table_reads(&db, &statements, &large).await;
}
