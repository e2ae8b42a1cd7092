//! Retried sign-ups and account commands with an `Idempotency-Key`: one
//! account, one event, the first answer again.

#![allow(clippy::unwrap_used)]

use ates_core::testing::replayed;
use auth_api::testing::{CreatedAccount, PASSWORD, TestApp};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

const KEY: &str = "5f1d2c3b-8a9e-4f60-b7c8-0d1e2f3a4b5c";

async fn post_with_key(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    body: &Value,
    key: &str,
) -> Response {
    let mut request = app
        .client
        .post(app.url(path))
        .header("idempotency-key", key)
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// A sign-up's answer, kept as JSON to compare with its replay, read as
/// the account it is.
fn created_account(answer: &Value) -> CreatedAccount {
    serde_json::from_value(answer.clone()).unwrap()
}

#[tokio::test]
async fn a_repeated_sign_up_creates_one_account() {
    let app = TestApp::spawn().await;
    let body = json!({"email": "kesha@popug.inc", "password": PASSWORD, "full_name": "Kesha"});
    let first = post_with_key(&app, "/v1/accounts", None, &body, KEY).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(!replayed(&first));
    let first: Value = first.json().await.unwrap();
    let kesha = created_account(&first).account.id.to_string();
    let repeat = post_with_key(&app, "/v1/accounts", None, &body, KEY).await;
    assert_eq!(
        repeat.status(),
        StatusCode::CREATED,
        "not 'the email is taken'"
    );
    assert!(replayed(&repeat));
    assert_eq!(repeat.json::<Value>().await.unwrap(), first);

    let other = json!({"email": "rio@popug.inc", "password": PASSWORD, "full_name": "Rio"});
    let reused = post_with_key(&app, "/v1/accounts", None, &other, KEY).await;
    assert_eq!(reused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let marker = app.worker("zazu@popug.inc").await.account.id.to_string();

    let created = app.wait_for_events("accounts.created", 3).await;
    assert!(
        created
            .iter()
            .any(|event| event["data"]["account_id"] == marker)
    );
    let of_kesha = created
        .iter()
        .filter(|event| event["data"]["account_id"] == kesha)
        .count();
    assert_eq!(of_kesha, 1, "one account, one event");
    assert_eq!(created.len(), 3, "the admin, kesha and the marker");
    let admin = app.admin_token().await;
    assert_eq!(app.accounts(&admin).await.len(), 3);
}

#[tokio::test]
async fn a_repeated_admin_creation_returns_the_same_generated_password() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let body = json!({"email": "rio@partner.org", "full_name": "Rio", "role": "manager"});
    let first = post_with_key(&app, "/v1/accounts", Some(&admin), &body, KEY).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    assert!(created_account(&first).temporary_password.is_some());
    let repeat = post_with_key(&app, "/v1/accounts", Some(&admin), &body, KEY).await;
    assert!(replayed(&repeat));
    assert_eq!(
        repeat.json::<Value>().await.unwrap(),
        first,
        "the password shown once, again to the retry"
    );
    // The same key without the admin's token is another caller's key.
    let anonymous = json!({"email": "rio@partner.org", "password": PASSWORD, "full_name": "Rio"});
    let response = post_with_key(&app, "/v1/accounts", None, &anonymous, KEY).await;
    assert_eq!(
        response.status(),
        StatusCode::CONFLICT,
        "ran: the email is taken"
    );
    assert!(!replayed(&response));
}

#[tokio::test]
async fn a_repeated_password_change_gives_the_same_session() {
    let app = TestApp::spawn().await;
    app.worker("kesha@popug.inc").await;
    let body = json!({"email": "kesha@popug.inc", "current_password": PASSWORD, "new_password": "purple staple orbit"});
    let first = post_with_key(&app, "/v1/auth/password", None, &body, KEY).await;
    assert_eq!(first.status(), StatusCode::OK);
    let first: Value = first.json().await.unwrap();
    let repeat = post_with_key(&app, "/v1/auth/password", None, &body, KEY).await;
    assert_eq!(
        repeat.status(),
        StatusCode::OK,
        "not a 401 for the old password"
    );
    assert!(replayed(&repeat));
    assert_eq!(repeat.json::<Value>().await.unwrap(), first);
    assert_eq!(
        app.login("kesha@popug.inc", "purple staple orbit")
            .await
            .status(),
        StatusCode::OK
    );
}
