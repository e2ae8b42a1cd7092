//! `GET /v1/accounts` (admins): every account, a page at a time in sign-up
//! order, found by email or name; bad search, cursor or page size is a 422.

#![allow(clippy::unwrap_used)]

use ates_core::testing::problem;
use auth_api::routes::accounts::AccountPage;
use auth_api::testing::TestApp;
use reqwest::StatusCode;
use uuid::Uuid;

async fn page(app: &TestApp, token: &str, query: &str) -> AccountPage {
    let response = app.get(&format!("/v1/accounts?{query}"), Some(token)).await;
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn accounts_page_in_sign_up_order_and_are_found_by_email_or_name() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let mut ids = vec![app.me(&admin).await.id];
    for (email, name) in [
        ("kesha@popug.inc", "Kesha Popugaev"),
        ("rio@parrots.example", "Rio Ara"),
        ("zoe@popug.inc", "Zoe Zebra"),
        ("percent@popug.inc", "100% Popug"),
    ] {
        let response = app.sign_up(email, name).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{email}");
        let created: auth_api::routes::accounts::CreatedAccount = response.json().await.unwrap();
        ids.push(created.account.id);
    }

    let mut seen: Vec<Uuid> = Vec::new();
    let mut query = "per_page=2".to_owned();
    let mut pages = 0;
    loop {
        let found = page(&app, &admin, &query).await;
        pages += 1;
        assert!(found.items.len() <= 2);
        seen.extend(found.items.iter().map(|account| account.id));
        match found.next_cursor {
            Some(cursor) => query = format!("per_page=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids, "every account once, oldest first");
    assert_eq!(
        app.accounts(&admin)
            .await
            .iter()
            .map(|a| a.id)
            .collect::<Vec<_>>(),
        ids
    );

    let emails = |found: AccountPage| -> Vec<String> {
        found
            .items
            .into_iter()
            .map(|account| account.email)
            .collect()
    };
    assert_eq!(
        emails(page(&app, &admin, "q=PARROTS").await),
        vec!["rio@parrots.example"],
        "by email, ignoring case"
    );
    assert_eq!(
        emails(page(&app, &admin, "q=zebra").await),
        vec!["zoe@popug.inc"],
        "by name"
    );
    assert_eq!(
        emails(page(&app, &admin, "q=100%25").await),
        vec!["percent@popug.inc"],
        "`%` is a plain character"
    );
    assert_eq!(
        emails(page(&app, &admin, "q=nobody").await),
        Vec::<String>::new()
    );

    let worker = app.access_token("kesha@popug.inc").await;
    problem(
        app.get("/v1/accounts?q=kesha", Some(&worker)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    for bad in [
        "q=%00",
        "q=",
        &format!("q={}", "a".repeat(101)),
        "per_page=0",
        "page=2",
        "cursor=%FF",
        // A cursor of another list (tasks-api's) is not an accounts cursor.
        "cursor=dGFza3N8MDE5NTZiMWYtMDAwMC03YWJjLThkZWYtMDEyMzQ1Njc4OWFifDA",
    ] {
        problem(
            app.get(&format!("/v1/accounts?{bad}"), Some(&admin)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
}
