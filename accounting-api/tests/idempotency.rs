//! Closing the day retried with an `Idempotency-Key` closes once.

#![allow(clippy::unwrap_used)]

use accounting_api::db::billing_cycle::CycleStatus;
use accounting_api::routes::accounting::CloseResult;
use accounting_api::testing::AccountingApp;
use auth_api::testing::TestApp as AuthApp;
use reqwest::StatusCode;

#[tokio::test]
async fn a_repeated_close_closes_one_cycle() {
    let auth = AuthApp::spawn().await;
    let accounting = AccountingApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let admin = auth.admin_token().await;
    let key = "c10se-the-day-2026-12-02";
    let path = "/v1/billing-cycles/close";
    let first = accounting.post_with_key(path, &admin, None, key).await;
    assert_eq!(first.status(), StatusCode::OK);
    let first: CloseResult = first.json().await.unwrap();
    let repeat = accounting.post_with_key(path, &admin, None, key).await;
    assert_eq!(repeat.status(), StatusCode::OK);
    assert_eq!(repeat.headers()["idempotency-replayed"], "true");
    assert_eq!(repeat.json::<CloseResult>().await.unwrap(), first);

    let cycles = accounting.cycles(&admin).await;
    let closed = cycles
        .iter()
        .filter(|cycle| cycle.status == CycleStatus::Closed)
        .count();
    assert_eq!(closed, 1, "one close: {cycles:?}");
    assert_eq!(cycles.len(), 2, "the closed cycle and the one open now");
    // Another key is another close.
    let second = accounting
        .post_with_key(path, &admin, None, "another-key")
        .await;
    assert_eq!(second.status(), StatusCode::OK);
    assert_eq!(accounting.cycles(&admin).await.len(), 3);
}
