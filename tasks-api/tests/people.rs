//! `GET /v1/people`: the accounts of the replica, page by page, found by
//! name, for showing assignees; over HTTP with real auth-api tokens and account events.

#![allow(clippy::unwrap_used)]

use ates_core::testing::problem;
use auth_api::testing::{CreatedAccount, TestApp as AuthApp};
use event_schemas::accounts::Role;
use reqwest::StatusCode;
use tasks_api::routes::people::{PeoplePage, Person};
use tasks_api::testing::TasksApp;

/// Signs `email` up as `full_name` and returns its id.
async fn sign_up(auth: &AuthApp, email: &str, full_name: &str) -> String {
    let response = auth.sign_up(email, full_name).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{email}");
    let created: CreatedAccount = response.json().await.unwrap();
    created.account.id.to_string()
}

#[tokio::test]
async fn everyone_is_listed_page_by_page_in_sign_up_order_and_found_by_name() {
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
    let person = |id: &str, full_name: &str, role: Role, active: bool| Person {
        id: id.parse().unwrap(),
        full_name: full_name.to_owned(),
        role,
        active,
    };
    let mut everyone = vec![
        person(&admin, "aTES Admin", Role::Admin, true),
        person(&zoe, "Zoe Zebra", Role::Worker, false),
        person(&anna, "Anna Ara", Role::Worker, true),
        person(&namesake, "Anna Ara", Role::Manager, true),
    ];
    everyone.sort_by_key(|person| person.id);

    // Two pages of two, then none: the order the accounts were made in.
    let response = tasks.get("/v1/people?per_page=2", &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    ates_core::testing::assert_private_headers(&response);
    let first: PeoplePage = response.json().await.unwrap();
    assert_eq!(first.items, everyone[..2]);
    let cursor = first.next_cursor.expect("a second page");
    let second: PeoplePage = tasks
        .get_ok(&format!("/v1/people?per_page=2&cursor={cursor}"), &token)
        .await;
    assert_eq!(second.items, everyone[2..]);
    assert_eq!(second.next_cursor, None, "no empty page after the last");
    assert_eq!(tasks.people(&token).await, everyone);

    // A search ignores case and matches any part of the full name.
    let found: PeoplePage = tasks.get_ok("/v1/people?q=aRA", &token).await;
    let mut annas: Vec<Person> = everyone
        .iter()
        .filter(|person| person.full_name == "Anna Ara")
        .cloned()
        .collect();
    annas.sort_by_key(|person| person.id);
    assert_eq!(found.items, annas);
    let found: PeoplePage = tasks.get_ok("/v1/people?q=ZEB", &token).await;
    assert_eq!(
        found.items,
        vec![person(&zoe, "Zoe Zebra", Role::Worker, false)]
    );
    // `%` and `_` are plain characters in a search, not wildcards.
    for literal in ["%25", "_", "A_na"] {
        let found: PeoplePage = tasks
            .get_ok(&format!("/v1/people?q={literal}"), &token)
            .await;
        assert_eq!(found.items, vec![], "q={literal}");
    }
    // A search with a NUL byte, an empty one and an unknown parameter are
    // refused before any query runs.
    for bad in ["/v1/people?q=%00", "/v1/people?q=", "/v1/people?page=2"] {
        problem(
            tasks.get(bad, &token).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
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
