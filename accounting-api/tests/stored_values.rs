//! A transaction kind or a billing-cycle status that no version of
//! accounting-api writes is an internal error wherever it is read: never a
//! `payout`, never left out of a sum.

#![allow(clippy::unwrap_used)]

use accounting_api::db::{billing_cycle, transaction};
use accounting_api::testing::AccountingApp;
use ates_core::testing::{eventually, problem, store_unknown_value};
use auth_api::testing::TestApp as AuthApp;
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use std::time::Duration;
use tasks_api::testing::TasksApp;

#[tokio::test]
async fn an_unknown_stored_kind_or_cycle_status_is_an_internal_error() {
    let auth = AuthApp::spawn().await;
    let tasks = TasksApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let accounting = AccountingApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let kesha = auth.account_with_role("kesha@popug.inc", "worker").await;
    tasks.wait_for_account(&kesha, true).await;
    accounting.wait_for_account(&kesha, true).await;
    let token = auth.access_token("kesha@popug.inc").await;
    tasks.task(&token, "Fix the nest").await;
    // The assignment fee reaches the ledger.
    let fee = eventually(Duration::from_secs(20), "the fee in the ledger", || async {
        transaction::Entity::find()
            .all(&accounting.db)
            .await
            .unwrap()
            .into_iter()
            .next()
    })
    .await;
    let me = accounting.get("/v1/me", &token).await;
    assert_eq!(me.status(), StatusCode::OK);

    store_unknown_value(&accounting.db, "transactions", "kind", fee.id, "bonus").await;
    let me = accounting.get("/v1/me", &token).await;
    problem(me, StatusCode::INTERNAL_SERVER_ERROR).await;
    let log = accounting.get("/v1/me/transactions", &token).await;
    problem(log, StatusCode::INTERNAL_SERVER_ERROR).await;

    let admin = auth.admin_token().await;
    let cycles = accounting.get("/v1/billing-cycles", &admin).await;
    assert_eq!(cycles.status(), StatusCode::OK);
    let open = billing_cycle::Entity::find()
        .all(&accounting.db)
        .await
        .unwrap()
        .pop()
        .unwrap();
    store_unknown_value(
        &accounting.db,
        "billing_cycles",
        "status",
        open.id,
        "paused",
    )
    .await;
    let cycles = accounting.get("/v1/billing-cycles", &admin).await;
    problem(cycles, StatusCode::INTERNAL_SERVER_ERROR).await;
}
