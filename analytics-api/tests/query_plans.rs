//! The dashboard reads no large table whole: with 30,000 ledger entries
//! over a month and 12,000 balances (after `ANALYZE`), each statement its
//! endpoints run over HTTP is explained by the database, and none reads
//! the entries or the balances whole (its sums by quarter hour answer).

#![allow(clippy::unwrap_used)]

use analytics_api::db::ledger_entry;
use analytics_api::testing::AnalyticsApp;
use ates_core::testing::{SqlLog, assert_no_whole_table_reads, large_tables};
use auth_api::testing::TestApp as AuthApp;
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::Value;
use uuid::Uuid;

const ENTRIES: usize = 30_000;
const BALANCES: usize = 12_000;

#[tokio::test]
async fn the_dashboard_reads_no_large_table_whole() {
    let log = SqlLog::install();
    let auth = AuthApp::spawn().await;
    let analytics = AnalyticsApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let admin = auth.admin_token().await;
    let admin_id = auth.account_id_of(&admin).await;
    analytics.wait_for_account(&admin_id, true).await;

    let accounts: Vec<Uuid> = (0..BALANCES).map(|_| Uuid::now_v7()).collect();
    for (index, chunk) in accounts.chunks(1_000).enumerate() {
        // One account in twelve is in debt.
        let cents = if index == 0 { -500 } else { 500 };
        ates_core::balances::add(&analytics.db, chunk.iter().map(|&id| (id, cents)))
            .await
            .unwrap();
    }
    let now = ates_core::db::now();
    let rows: Vec<ledger_entry::ActiveModel> = (0..ENTRIES)
        .map(|index| {
            let at = now
                - chrono::TimeDelta::days(i64::try_from(index % 31).unwrap())
                - chrono::TimeDelta::milliseconds(i64::try_from(index).unwrap());
            ledger_entry::ActiveModel {
                id: Set(Uuid::now_v7()),
                account_id: Set(accounts[index % BALANCES]),
                kind: Set(if index % 2 == 0 {
                    "assignment_fee"
                } else {
                    "task_reward"
                }
                .into()),
                amount_cents: Set(if index % 2 == 0 { -1000 } else { 2000 }),
                task_id: Set(Some(Uuid::now_v7())),
                created_at: Set(at),
            }
        })
        .collect();
    for chunk in rows.chunks(1_000) {
        ledger_entry::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&analytics.db)
            .await
            .unwrap();
    }
    let large = large_tables(&analytics.db, 10_000).await;
    for table in ["ledger_entries", "balances"] {
        assert!(large.contains(&table.to_owned()), "{table}: {large:?}");
    }

    log.start();
    let today: Value = analytics.get_ok("/v1/dashboard/today", &admin).await;
    let date = today["date"].as_str().unwrap().to_owned();
    let _: Value = analytics
        .get_ok(
            &format!("/v1/most-expensive-task?period=month&date={date}"),
            &admin,
        )
        .await;
    let day: chrono::NaiveDate = date.parse().unwrap();
    let from = day - chrono::TimeDelta::days(30);
    let _: Value = analytics
        .get_ok(
            &format!("/v1/most-expensive-tasks/daily?from={from}&to={date}"),
            &admin,
        )
        .await;
    let statements = log.stop();
    for table in [
        "balances",
        "earnings_by_quarter_hour",
        "best_completion_by_quarter_hour",
    ] {
        assert!(
            statements
                .iter()
                .any(|sql| sql.contains(&format!("\"{table}\""))),
            "no statement read {table}: {statements:#?}"
        );
    }
    assert_no_whole_table_reads(&analytics.db, &statements, &large).await;
}
