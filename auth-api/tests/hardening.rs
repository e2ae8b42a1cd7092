//! auth-api's share of the HTTP hardening: JSON bodies answered by what is
//! wrong with them, the bearer scheme in any case, and no cache keeping a
//! token, a temporary password or an account.

#![allow(clippy::unwrap_used)]

use ates_core::testing::{
    assert_bearer_any_case_and_no_store, assert_json_body_statuses, assert_nosniff_everywhere,
    assert_private_headers,
};
use auth_api::testing::{ADMIN_EMAIL, ADMIN_PASSWORD, CreatedAccount, TestApp, TokenResponse};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn login_bodies_get_400_413_415_or_422_by_what_is_wrong() {
    let app = TestApp::spawn().await;
    assert_json_body_statuses(&app.client, &app.url("/v1/auth/login"), None).await;
    // Nothing of it counted as a failed login: the admin still logs in.
    assert_eq!(
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn token_temporary_password_and_account_answers_are_never_cached() {
    let app = TestApp::spawn().await;
    let login = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
    assert_private_headers(&login);
    let tokens: TokenResponse = login.json().await.unwrap();
    let admin = tokens.access_token.as_str();

    let refreshed = app.refresh(&tokens.refresh_token).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    assert_private_headers(&refreshed);

    let created = app
        .post_as(
            "/v1/accounts",
            admin,
            &json!({"email": "kesha@popug.inc", "full_name": "Kesha"}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_private_headers(&created);
    let created: CreatedAccount = created.json().await.unwrap();
    assert!(created.temporary_password.is_some());
    let id = created.account.id.to_string();

    let temporary = app.set_temporary_password(admin, &id, None).await;
    assert_eq!(temporary.status(), StatusCode::OK);
    assert_private_headers(&temporary);

    let refused = app.login(ADMIN_EMAIL, "wrong password!").await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_private_headers(&refused);

    assert_bearer_any_case_and_no_store(&app.client, &app.url("/v1/accounts/me"), admin).await;
    assert_bearer_any_case_and_no_store(
        &app.client,
        &app.url(&format!("/v1/accounts/{id}")),
        admin,
    )
    .await;

    // The keys are public and meant to be cached.
    let keys = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(keys.headers()["cache-control"], "public, max-age=60");
    assert_eq!(keys.headers()["x-content-type-options"], "nosniff");
    assert_nosniff_everywhere(&app.client, &app.url("")).await;
}
