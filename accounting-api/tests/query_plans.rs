//! Every list and report of accounting-api reads its large tables through
//! an index: with 30,000 transactions over 31 days and 12,000 accounts and
//! balances (after `ANALYZE`), each statement the endpoints run over HTTP
//! is explained by the database, and none reads a large table whole
//! (PostgreSQL: no sequential scan; SQLite: no `SCAN` without an index).

#![allow(clippy::unwrap_used)]

use accounting_api::db::{billing_cycle, transaction};
use accounting_api::routes::accounting::{BalancePage, TransactionPage};
use accounting_api::testing::AccountingApp;
use ates_core::testing::{SqlLog, assert_no_whole_table_reads, large_tables, seed_replica};
use auth_api::testing::TestApp as AuthApp;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::Value;
use uuid::Uuid;

const TRANSACTIONS: usize = 30_000;
const ACCOUNTS: usize = 12_000;

#[tokio::test]
async fn every_list_and_report_reads_the_large_tables_through_an_index() {
    let log = SqlLog::install();
    let auth = AuthApp::spawn().await;
    let accounting = AccountingApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let kesha = auth.account_with_role("kesha@popug.inc", "worker").await;
    accounting.wait_for_account(&kesha, true).await;
    let worker = auth.access_token("kesha@popug.inc").await;
    let admin = auth.admin_token().await;
    let kesha: Uuid = kesha.parse().unwrap();
    let cycle = billing_cycle::Entity::find()
        .filter(billing_cycle::Column::Status.eq("open"))
        .one(&accounting.db)
        .await
        .unwrap()
        .expect("an open cycle");

    let now = ates_core::db::now();
    let accounts: Vec<Uuid> = (0..ACCOUNTS).map(|_| Uuid::now_v7()).collect();
    seed_replica(&accounting.db, &accounts).await;
    for chunk in accounts.chunks(1_000) {
        ates_core::balances::add(&accounting.db, chunk.iter().map(|&id| (id, -100)))
            .await
            .unwrap();
    }
    // Kesha's 300 entries are today's; the others spread over 31 days.
    let rows: Vec<transaction::ActiveModel> = (0..TRANSACTIONS)
        .map(|index| {
            let mine = index % 100 == 0;
            let back = if mine { 0 } else { index % 31 };
            let at = now
                - chrono::TimeDelta::days(i64::try_from(back).unwrap())
                - chrono::TimeDelta::milliseconds(i64::try_from(index).unwrap());
            transaction::ActiveModel {
                id: Set(Uuid::now_v7()),
                account_id: Set(if mine {
                    kesha
                } else {
                    accounts[index % ACCOUNTS]
                }),
                kind: Set(if index % 2 == 0 {
                    "assignment_fee"
                } else {
                    "task_reward"
                }
                .into()),
                amount_cents: Set(if index % 2 == 0 { -1000 } else { 2000 }),
                task_id: Set(Some(Uuid::now_v7())),
                billing_cycle_id: Set(cycle.id),
                created_at: Set(at),
            }
        })
        .collect();
    for chunk in rows.chunks(1_000) {
        transaction::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&accounting.db)
            .await
            .unwrap();
    }
    let large = large_tables(&accounting.db, 10_000).await;
    for table in ["transactions", "account_replica", "balances"] {
        assert!(large.contains(&table.to_owned()), "{table}: {large:?}");
    }

    log.start();
    let _: Value = accounting.get_ok("/v1/me", &worker).await;
    for path in [
        "/v1/me/transactions?per_page=5".to_owned(),
        format!("/v1/accounts/{kesha}/transactions?per_page=5"),
    ] {
        let token = if path.starts_with("/v1/me") {
            &worker
        } else {
            &admin
        };
        let first: TransactionPage = accounting.get_ok(&path, token).await;
        let cursor = first.next_cursor.expect("a second page");
        let _: TransactionPage = accounting
            .get_ok(&format!("{path}&cursor={cursor}"), token)
            .await;
    }
    let today = accounting.me(&worker).await.today.date;
    let month_ago = today - chrono::TimeDelta::days(30);
    let _: Value = accounting
        .get_ok(
            &format!("/v1/stats/management?from={month_ago}&to={today}"),
            &admin,
        )
        .await;
    let _: Value = accounting.get_ok("/v1/billing-cycles", &admin).await;
    let first: BalancePage = accounting.get_ok("/v1/accounts?per_page=100", &admin).await;
    let cursor = first.next_cursor.expect("more balances");
    let _: BalancePage = accounting
        .get_ok(
            &format!("/v1/accounts?per_page=100&cursor={cursor}"),
            &admin,
        )
        .await;
    let statements = log.stop();
    for table in [
        "transactions",
        "account_replica",
        "balances",
        "earnings_by_quarter_hour",
    ] {
        assert!(
            statements
                .iter()
                .any(|sql| sql.contains(&format!("\"{table}\""))),
            "no statement read {table}: {statements:#?}"
        );
    }
    assert_no_whole_table_reads(&accounting.db, &statements, &large).await;
}
