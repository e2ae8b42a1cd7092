//! Closing the day retried with an `Idempotency-Key` closes once.

#![allow(clippy::unwrap_used)]

use accounting_api::testing::AccountingApp;
use auth_api::testing::TestApp as AuthApp;
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn a_repeated_close_closes_one_cycle() {
    let auth = AuthApp::spawn().await;
    let accounting = AccountingApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let admin = auth.admin_token().await;
    let key = "c10se-the-day-2026-12-02";
    let path = "/v1/billing-cycles/close";
    let first = accounting.post_with_key(path, &admin, None, key).await;
    assert_eq!(first.status(), StatusCode::OK);
    let first: Value = first.json().await.unwrap();
    let repeat = accounting.post_with_key(path, &admin, None, key).await;
    assert_eq!(repeat.status(), StatusCode::OK);
    assert_eq!(repeat.headers()["idempotency-replayed"], "true");
    assert_eq!(repeat.json::<Value>().await.unwrap(), first);

    let cycles: Vec<Value> = accounting
        .get("/v1/billing-cycles", &admin)
        .await
        .json()
        .await
        .unwrap();
    let closed = cycles
        .iter()
        .filter(|cycle| cycle["status"] == "closed")
        .count();
    assert_eq!(closed, 1, "one close: {cycles:?}");
    assert_eq!(cycles.len(), 2, "the closed cycle and the one open now");
    // Another key is another close.
    let second = accounting
        .post_with_key(path, &admin, None, "another-key")
        .await;
    assert_eq!(second.status(), StatusCode::OK);
    let cycles: Vec<Value> = accounting
        .get("/v1/billing-cycles", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cycles.len(), 3);
}
