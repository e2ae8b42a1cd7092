//! A role in the accounts table that no version of auth-api writes is an
//! internal error wherever it is read, never a `worker` by default: it must
//! not end up inside a signed token.

#![allow(clippy::unwrap_used)]

use ates_core::testing::{problem, store_unknown_value};
use auth_api::testing::{PASSWORD, TestApp};
use reqwest::StatusCode;

#[tokio::test]
async fn an_unknown_stored_role_is_an_internal_error_and_never_a_token() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let kesha_id = app.worker("kesha@popug.inc").await.account.id;
    let db = app.database.connect().await;
    store_unknown_value(&db, "accounts", "role", kesha_id, "superuser").await;

    // Logging in would sign a token with some role: refused instead.
    let login = app.login("kesha@popug.inc", PASSWORD).await;
    problem(login, StatusCode::INTERNAL_SERVER_ERROR).await;
    // Reading the account, alone or in the list, is refused too.
    let one = app
        .get(&format!("/v1/accounts/{kesha_id}"), Some(&admin))
        .await;
    problem(one, StatusCode::INTERNAL_SERVER_ERROR).await;
    let all = app.get("/v1/accounts", Some(&admin)).await;
    problem(all, StatusCode::INTERNAL_SERVER_ERROR).await;

    // Other accounts are untouched: the admin still reads their own.
    let me = app.get("/v1/accounts/me", Some(&admin)).await;
    assert_eq!(me.status(), StatusCode::OK);
}
