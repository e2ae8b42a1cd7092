//! `GET /v1/people`: every account of the replica by name, for showing
//! assignees; over HTTP with real auth-api tokens and account events.

#![allow(clippy::unwrap_used)]

use ates_core::testing::problem;
use auth_api::testing::{CreatedAccount, TestApp as AuthApp};
use event_schemas::accounts::Role;
use reqwest::StatusCode;
use tasks_api::routes::people::Person;
use tasks_api::testing::TasksApp;

/// Signs `email` up as `full_name` and returns its id.
async fn sign_up(auth: &AuthApp, email: &str, full_name: &str) -> String {
    let response = auth.sign_up(email, full_name).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{email}");
    let created: CreatedAccount = response.json().await.unwrap();
    created.account.id.to_string()
}

#[tokio::test]
async fn everyone_is_listed_by_full_name_then_id_with_role_and_state() {
    let auth = AuthApp::spawn().await;
    let tasks = TasksApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let admin = auth.account_id_of(&auth.admin_token().await).await;
    let zoe = sign_up(&auth, "zoe@popug.inc", "Zoe Zebra").await;
    let anna = sign_up(&auth, "anna@popug.inc", "Anna Ara").await;
    let namesake = sign_up(&auth, "anna2@popug.inc", "Anna Ara").await;
    auth.set_role(&namesake, "manager").await;
    auth.deactivate(&zoe).await;
    tasks.wait_for_account(&admin, true).await;
    tasks.wait_for_account(&anna, true).await;
    tasks.wait_for_role(&namesake, "manager").await;
    tasks.wait_for_account(&zoe, false).await;

    let token = auth.access_token("anna@popug.inc").await;
    let response = tasks.get("/v1/people", &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    ates_core::testing::assert_private_headers(&response);
    let people: Vec<Person> = response.json().await.unwrap();

    let person = |id: &str, full_name: &str, role: Role, active: bool| Person {
        id: id.parse().unwrap(),
        full_name: full_name.to_owned(),
        role,
        active,
    };
    let (first, second) = if anna < namesake {
        (
            person(&anna, "Anna Ara", Role::Worker, true),
            person(&namesake, "Anna Ara", Role::Manager, true),
        )
    } else {
        (
            person(&namesake, "Anna Ara", Role::Manager, true),
            person(&anna, "Anna Ara", Role::Worker, true),
        )
    };
    // By code point: capitals before small letters, whatever the database.
    let expected = vec![
        first,
        second,
        person(&zoe, "Zoe Zebra", Role::Worker, false),
        person(&admin, "aTES Admin", Role::Admin, true),
    ];
    assert_eq!(people, expected);
}

#[tokio::test]
async fn people_need_a_valid_token() {
    let auth = AuthApp::spawn().await;
    let tasks = TasksApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let anonymous = tasks
        .client
        .get(tasks.url("/v1/people"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    problem(anonymous, StatusCode::UNAUTHORIZED).await;
    problem(
        tasks.get("/v1/people", "not-a-token").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}
