//! Accounts and roles auth-api can trust (issue 11, section 3), over HTTP
//! with a real database and a real JetStream broker: the current role
//! decides, password changes end the other sessions, temporary passwords
//! must be changed, and sign-up follows its policy.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use ates_core::testing::eventually;
use auth_api::db::account;
use auth_api::domain::accounts::SignUpPolicy;
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use support::{ADMIN_EMAIL, Account, CreatedAccount, PASSWORD, Role, TestApp, jwt_part, problem};

const NEW_PASSWORD: &str = "purple staple orbit";
const PROBLEMS: &str = "https://ates.popug.inc/problems/";

/// The id of a new account, as the paths take it.
fn id_of(created: &CreatedAccount) -> String {
    created.account.id.to_string()
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap()
}

/// Waits until the clock is past the second a token was issued in: a
/// token's `iat` has whole seconds, so only tokens of earlier seconds can
/// be told apart from a change made now.
async fn wait_past_issue_of(token: &str) {
    let issued_at = jwt_part(token, 1)["iat"].as_i64().unwrap();
    eventually(
        Duration::from_secs(5),
        "the clock to pass the token's second",
        || async move { (chrono::Utc::now().timestamp() > issued_at).then_some(()) },
    )
    .await;
}

/// The emails of every account, oldest first, as the bootstrap admin sees them.
async fn emails(app: &TestApp) -> Vec<String> {
    let admin = app.admin_token().await;
    app.accounts(&admin)
        .await
        .into_iter()
        .map(|account| account.email)
        .collect()
}

/// The account as the bootstrap admin sees it.
async fn account(app: &TestApp, id: &str) -> Account {
    let admin = app.admin_token().await;
    app.account(&admin, id).await
}

/// The account as the bootstrap admin sees it, as JSON: to check what the
/// answer leaves out.
async fn account_json(app: &TestApp, id: &str) -> Value {
    let admin = app.admin_token().await;
    let response = app.get(&format!("/v1/accounts/{id}"), Some(&admin)).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Renames an account as the bootstrap admin: an `accounts.updated` that
/// marks "everything before this has been published".
async fn publish_marker(app: &TestApp, id: &str, count: usize) -> Vec<String> {
    let admin = app.admin_token().await;
    app.update_account(&admin, id, &json!({"full_name": format!("Marker {count}")}))
        .await;
    app.wait_for_events("accounts.updated", count).await;
    app.account_events()
        .await
        .iter()
        .map(|event| text(&event["event_name"]).to_owned())
        .collect()
}

// ---- the current role decides --------------------------------------------

#[tokio::test]
async fn a_demoted_admin_loses_every_admin_endpoint_at_once() {
    let app = TestApp::spawn().await;
    let boss = app.account_with_role("boss@popug.inc", "admin").await;
    let old_token = app.access_token("boss@popug.inc").await;
    assert_eq!(jwt_part(&old_token, 1)["role"], "admin");
    let rio = id_of(&app.worker("rio@popug.inc").await);
    let before = app.get("/v1/accounts", Some(&old_token)).await;
    assert_eq!(
        before.status(),
        StatusCode::OK,
        "an admin before the demotion"
    );

    // The bootstrap admin demotes boss; boss still holds the admin token.
    app.set_role(&boss, "worker").await;

    let refused = [
        app.get("/v1/accounts", Some(&old_token)).await,
        app.get(&format!("/v1/accounts/{rio}"), Some(&old_token))
            .await,
        app.patch(
            &format!("/v1/accounts/{rio}"),
            &old_token,
            &json!({"role": "manager", "active": false}),
        )
        .await,
        app.set_temporary_password(&old_token, &rio, Some("taken over 1"))
            .await,
        app.post_as(
            "/v1/accounts",
            &old_token,
            &json!({"email": "mole@popug.inc", "full_name": "Mole", "role": "admin"}),
        )
        .await,
        // It cannot re-promote itself either.
        app.patch(
            &format!("/v1/accounts/{boss}"),
            &old_token,
            &json!({"role": "admin"}),
        )
        .await,
    ];
    for response in refused {
        let body = problem(response, StatusCode::FORBIDDEN).await;
        assert_eq!(body["type"], format!("{PROBLEMS}forbidden"));
        assert!(text(&body["detail"]).contains("you are worker"), "{body}");
    }

    // The token is still boss's own, now as a worker.
    assert_eq!(app.me(&old_token).await.role, Role::Worker);
    // Nothing changed: boss is a worker, rio an active worker with his
    // password, and no account was created.
    assert_eq!(account(&app, &boss).await.role, Role::Worker);
    let rio_now = account(&app, &rio).await;
    assert_eq!(rio_now.role, Role::Worker);
    assert!(rio_now.active);
    assert!(!rio_now.must_change_password);
    app.tokens("rio@popug.inc", PASSWORD).await;
    assert_eq!(
        emails(&app).await,
        vec![ADMIN_EMAIL, "boss@popug.inc", "rio@popug.inc"]
    );
    // Exactly the promotion and the demotion were published before the marker.
    let names = publish_marker(&app, &rio, 3).await;
    let role_changes = names
        .iter()
        .filter(|name| *name == "accounts.role_changed")
        .count();
    assert_eq!(role_changes, 2, "{names:?}");
    assert_eq!(
        names.last().map(String::as_str),
        Some("accounts.updated"),
        "{names:?}"
    );
}

/// The current role decides in auth-api both ways: a worker promoted to
/// admin acts as one with the token it already holds (the promotion is an
/// admin's decision, stored in auth-api's own table; other services still
/// need the token's role too, so there it needs a new token).
#[tokio::test]
async fn a_promoted_workers_old_token_gets_the_new_role_in_auth_api() {
    let app = TestApp::spawn().await;
    let kesha = id_of(&app.worker("kesha@popug.inc").await);
    let old_token = app.access_token("kesha@popug.inc").await;
    assert_eq!(jwt_part(&old_token, 1)["role"], "worker");
    problem(
        app.get("/v1/accounts", Some(&old_token)).await,
        StatusCode::FORBIDDEN,
    )
    .await;

    app.set_role(&kesha, "admin").await;
    let all = app.get("/v1/accounts", Some(&old_token)).await;
    assert_eq!(all.status(), StatusCode::OK);
}

// ---- changing one's password ----------------------------------------------

#[tokio::test]
async fn changing_the_password_revokes_every_other_session() {
    let app = TestApp::spawn().await;
    let kesha = id_of(&app.worker("kesha@popug.inc").await);
    let first = app.tokens("kesha@popug.inc", PASSWORD).await;
    let second = app.tokens("kesha@popug.inc", PASSWORD).await;
    wait_past_issue_of(&second.access_token).await;

    let fresh = app
        .changed_password("kesha@popug.inc", PASSWORD, NEW_PASSWORD)
        .await;
    assert_eq!(fresh.token_type, "Bearer");

    for old in [&first, &second] {
        problem(
            app.refresh(&old.refresh_token).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
        let body = problem(
            app.get("/v1/accounts/me", Some(&old.access_token)).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
        assert!(text(&body["detail"]).contains("password changed"), "{body}");
    }
    // The new session works, access and refresh.
    let me = app.get("/v1/accounts/me", Some(&fresh.access_token)).await;
    assert_eq!(me.status(), StatusCode::OK);
    let refreshed = app.refresh(&fresh.refresh_token).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    // Only the new password logs in.
    problem(
        app.login("kesha@popug.inc", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    app.tokens("kesha@popug.inc", NEW_PASSWORD).await;
    // No replica holds passwords: nothing was published.
    let names = publish_marker(&app, &kesha, 1).await;
    assert_eq!(
        names,
        vec!["accounts.created", "accounts.created", "accounts.updated"]
    );
}

#[tokio::test]
async fn a_wrong_current_password_changes_nothing_and_is_401() {
    let app = TestApp::spawn().await;
    app.worker("kesha@popug.inc").await;
    let session = app.tokens("kesha@popug.inc", PASSWORD).await;

    let wrong = problem(
        app.change_password("kesha@popug.inc", "wrong password!", NEW_PASSWORD)
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let unknown = problem(
        app.change_password("nobody@popug.inc", PASSWORD, NEW_PASSWORD)
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(wrong, unknown, "nothing tells which part was wrong");

    let me = app
        .get("/v1/accounts/me", Some(&session.access_token))
        .await;
    assert_eq!(me.status(), StatusCode::OK, "the session lives on");
    let refreshed = app.refresh(&session.refresh_token).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    app.tokens("kesha@popug.inc", PASSWORD).await;
    problem(
        app.login("kesha@popug.inc", NEW_PASSWORD).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

/// The owner and a thief who knows the password change it at the same
/// moment: exactly one change wins, and only its password logs in.
#[tokio::test]
async fn of_two_simultaneous_changes_exactly_one_wins() {
    let app = TestApp::spawn().await;
    app.worker("kesha@popug.inc").await;
    let (owner, thief) = tokio::join!(
        app.change_password("kesha@popug.inc", PASSWORD, "owner password 2"),
        app.change_password("kesha@popug.inc", PASSWORD, "thief password 2"),
    );
    let statuses = [owner.status(), thief.status()];
    let winners = statuses
        .iter()
        .filter(|status| **status == StatusCode::OK)
        .count();
    assert_eq!(winners, 1, "{statuses:?}");
    assert!(statuses.contains(&StatusCode::UNAUTHORIZED), "{statuses:?}");
    let (won, lost) = if statuses[0] == StatusCode::OK {
        ("owner password 2", "thief password 2")
    } else {
        ("thief password 2", "owner password 2")
    };
    app.tokens("kesha@popug.inc", won).await;
    problem(
        app.login("kesha@popug.inc", lost).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn wrong_current_passwords_count_towards_the_login_throttle() {
    let app = TestApp::spawn().await;
    app.worker("kesha@popug.inc").await;
    // The test configuration blocks after 3 failures.
    for _ in 0..3 {
        problem(
            app.change_password("kesha@popug.inc", "wrong password!", NEW_PASSWORD)
                .await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    let change = app
        .change_password("kesha@popug.inc", PASSWORD, NEW_PASSWORD)
        .await;
    assert!(change.headers().contains_key("retry-after"));
    problem(change, StatusCode::TOO_MANY_REQUESTS).await;
    problem(
        app.login("kesha@popug.inc", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
}

#[tokio::test]
async fn a_new_password_follows_the_sign_up_rules_and_differs_from_the_current_one() {
    let app = TestApp::spawn().await;
    app.worker("kesha@popug.inc").await;
    let same = problem(
        app.change_password("kesha@popug.inc", PASSWORD, PASSWORD)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(same["errors"][0]["field"], "new_password");
    assert!(text(&same["errors"][0]["message"]).contains("differ"));
    for new in ["short", &"p".repeat(129)] {
        let body = problem(
            app.change_password("kesha@popug.inc", PASSWORD, new).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(body["errors"][0]["field"], "new_password");
    }
    for body in [
        json!({"email": "kesha@popug.inc", "current_password": PASSWORD}),
        json!({"email": "kesha@popug.inc", "current_password": PASSWORD,
            "new_password": NEW_PASSWORD, "role": "admin"}),
        json!({"email": "", "current_password": "", "new_password": NEW_PASSWORD}),
    ] {
        problem(
            app.post("/v1/auth/password", &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let malformed = app
        .client
        .post(app.url("/v1/auth/password"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    problem(malformed, StatusCode::BAD_REQUEST).await;
    let not_json = app
        .client
        .post(app.url("/v1/auth/password"))
        .body("email=kesha")
        .send()
        .await
        .unwrap();
    problem(not_json, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    // None of it changed the password or counted as a failure.
    app.tokens("kesha@popug.inc", PASSWORD).await;
}

#[tokio::test]
async fn a_deactivated_account_cannot_change_its_password() {
    let app = TestApp::spawn().await;
    let kesha = id_of(&app.worker("kesha@popug.inc").await);
    app.deactivate(&kesha).await;
    problem(
        app.change_password("kesha@popug.inc", PASSWORD, NEW_PASSWORD)
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    let admin = app.admin_token().await;
    let reactivated = app
        .patch(
            &format!("/v1/accounts/{kesha}"),
            &admin,
            &json!({"active": true}),
        )
        .await;
    assert_eq!(reactivated.status(), StatusCode::OK);
    app.tokens("kesha@popug.inc", PASSWORD).await;
    problem(
        app.login("kesha@popug.inc", NEW_PASSWORD).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

// ---- temporary passwords ----------------------------------------------------

#[tokio::test]
async fn a_temporary_password_must_be_changed_before_the_next_login() {
    let app = TestApp::spawn().await;
    let kesha = id_of(&app.worker("kesha@popug.inc").await);
    let session = app.tokens("kesha@popug.inc", PASSWORD).await;
    wait_past_issue_of(&session.access_token).await;

    let admin = app.admin_token().await;
    let response = app
        .set_temporary_password(&admin, &kesha, Some("temporary pass 1"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let set: Value = response.json().await.unwrap();
    assert!(
        set.get("temporary_password").is_none(),
        "a chosen password is not echoed"
    );
    let set = serde_json::from_value::<CreatedAccount>(set)
        .unwrap()
        .account;
    assert_eq!(set.id.to_string(), kesha);
    assert!(set.must_change_password);

    // Every session is over, and the old password is gone.
    problem(
        app.refresh(&session.refresh_token).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    problem(
        app.get("/v1/accounts/me", Some(&session.access_token))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    problem(
        app.login("kesha@popug.inc", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // The temporary password logs in to a distinct problem and no tokens.
    let refused = problem(
        app.login("kesha@popug.inc", "temporary pass 1").await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        refused["type"],
        format!("{PROBLEMS}password-change-required")
    );
    assert!(text(&refused["detail"]).contains("POST /v1/auth/password"));
    assert!(refused.get("access_token").is_none());

    let fresh = app
        .changed_password("kesha@popug.inc", "temporary pass 1", NEW_PASSWORD)
        .await;
    assert!(!app.me(&fresh.access_token).await.must_change_password);
    app.tokens("kesha@popug.inc", NEW_PASSWORD).await;
    problem(
        app.login("kesha@popug.inc", "temporary pass 1").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn a_generated_temporary_password_is_returned_once() {
    let app = TestApp::spawn().await;
    let kesha = id_of(&app.worker("kesha@popug.inc").await);
    let admin = app.admin_token().await;
    let temporary = app
        .temporary_password_set(&admin, &kesha, None)
        .await
        .temporary_password
        .expect("the generated password");
    assert_eq!(temporary.len(), 20);
    assert!(temporary.chars().all(|c| c.is_ascii_alphanumeric()));
    assert!(
        account_json(&app, &kesha)
            .await
            .get("temporary_password")
            .is_none(),
        "shown only in the answer that set it"
    );

    let refused = problem(
        app.login("kesha@popug.inc", &temporary).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        refused["type"],
        format!("{PROBLEMS}password-change-required")
    );
    let changed = app
        .change_password("kesha@popug.inc", &temporary, NEW_PASSWORD)
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    app.tokens("kesha@popug.inc", NEW_PASSWORD).await;
}

#[tokio::test]
async fn only_admins_set_temporary_passwords() {
    let app = TestApp::spawn().await;
    app.worker("kesha@popug.inc").await;
    let rio = id_of(&app.worker("rio@popug.inc").await);
    let worker = app.access_token("kesha@popug.inc").await;
    let path = format!("/v1/accounts/{rio}/temporary-password");

    problem(
        app.set_temporary_password(&worker, &rio, Some("taken over 1"))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    problem(
        app.post(&path, &json!({"password": "taken over 1"})).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    problem(
        app.set_temporary_password("garbage", &rio, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    let admin = app.admin_token().await;
    let unknown = uuid::Uuid::new_v4().to_string();
    problem(
        app.set_temporary_password(&admin, &unknown, None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.set_temporary_password(&admin, "not-a-uuid", None).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    for body in [
        json!({"password": "short"}),
        json!({"password": "p".repeat(129)}),
        json!({"password": 42}),
        json!({"colour": "green"}),
    ] {
        problem(
            app.post_as(&path, &admin, &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    // Rio's password and sessions are untouched.
    assert!(!account(&app, &rio).await.must_change_password);
    app.tokens("rio@popug.inc", PASSWORD).await;
}

#[tokio::test]
async fn a_generated_bootstrap_password_is_temporary() {
    let app = TestApp::spawn_with(|config| config.admin_password = None).await;
    let db = app.database.connect().await;
    let admin = account::Entity::find()
        .filter(account::Column::Email.eq(ADMIN_EMAIL))
        .one(&db)
        .await
        .unwrap()
        .expect("the bootstrap admin");
    assert!(admin.must_change_password);

    // A password the operator chose (ATES_ADMIN_PASSWORD) is not.
    let chosen = TestApp::spawn().await;
    let me = chosen.me(&chosen.admin_token().await).await;
    assert!(!me.must_change_password);
}

// ---- sign-up policy and accounts created by admins ---------------------------

fn only_at(domains: &[&str]) -> SignUpPolicy {
    SignUpPolicy {
        open: true,
        allowed_domains: domains.iter().map(|domain| (*domain).to_owned()).collect(),
    }
}

async fn sign_up_as(app: &TestApp, email: &str) -> reqwest::Response {
    app.post(
        "/v1/accounts",
        &json!({"email": email, "password": PASSWORD, "full_name": "A Popug"}),
    )
    .await
}

#[tokio::test]
async fn sign_up_can_be_limited_to_email_domains() {
    let app = TestApp::spawn_with(|config| config.signup = only_at(&["popug.inc"])).await;
    let kesha: CreatedAccount = {
        let response = sign_up_as(&app, "Kesha@POPUG.INC").await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    };
    assert_eq!(kesha.account.email, "kesha@popug.inc");
    // The domain is what follows the last `@`: this mailbox is at popug.inc.
    let response = sign_up_as(&app, "evil.com@popug.inc").await;
    assert_eq!(response.status(), StatusCode::CREATED);

    for email in [
        "kesha@evil.com",
        "kesha@popug.inc.evil.com",
        "popug.inc@evil.com",
        "kesha@eu.popug.inc",
        "kesha@evilpopug.inc",
        "kesha@popug.incorporated",
    ] {
        let body = problem(sign_up_as(&app, email).await, StatusCode::FORBIDDEN).await;
        assert_eq!(
            body["type"],
            format!("{PROBLEMS}signup-domain-not-allowed"),
            "{email}"
        );
        assert!(text(&body["detail"]).contains("popug.inc only"), "{body}");
    }
    // Tricks that do not even make an email address.
    for email in [
        "kesha@evil.com@popug.inc",
        "\"kesha@evil.com\"@popug.inc",
        "kesha@popug.inc\n",
        "kesha@popug.inc, boss@popug.inc",
        "kesha%evil.com@popug.inc@",
        "@popug.inc",
    ] {
        let response = sign_up_as(&app, email).await;
        let status = response.status();
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::FORBIDDEN,
            "{email:?}: {status}"
        );
        problem(response, status).await;
    }
    assert_eq!(
        emails(&app).await,
        vec![ADMIN_EMAIL, "kesha@popug.inc", "evil.com@popug.inc"]
    );

    // A refusal says nothing about existing accounts: an admin's account at
    // another domain gets the same answer as a stranger.
    let admin = app.admin_token().await;
    let created = app
        .post_as(
            "/v1/accounts",
            &admin,
            &json!({"email": "boss@partner.org", "full_name": "Boss"}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let existing = problem(
        sign_up_as(&app, "boss@partner.org").await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let stranger = problem(
        sign_up_as(&app, "stranger@partner.org").await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(existing, stranger);
}

#[tokio::test]
async fn with_sign_up_closed_admins_create_accounts() {
    let app = TestApp::spawn_with(|config| {
        config.signup = SignUpPolicy {
            open: false,
            allowed_domains: Vec::new(),
        }
    })
    .await;
    let closed = problem(
        sign_up_as(&app, "kesha@popug.inc").await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(closed["type"], format!("{PROBLEMS}signup-closed"));
    assert!(text(&closed["detail"]).contains("ask an admin"));

    let admin = app.admin_token().await;
    let kesha = app
        .create_account(
            &admin,
            &json!({"email": "Kesha@Popug.inc", "full_name": "Kesha", "role": "manager"}),
        )
        .await;
    assert_eq!(kesha.account.email, "kesha@popug.inc");
    assert_eq!(kesha.account.role, Role::Manager);
    assert!(kesha.account.must_change_password);
    let temporary = kesha.temporary_password.expect("the generated password");
    let created = app.wait_for_events("accounts.created", 2).await;
    assert_eq!(
        created[1]["data"]["account_id"],
        kesha.account.id.to_string()
    );
    assert_eq!(created[1]["data"]["role"], "manager");

    // The first login must change the temporary password.
    problem(
        app.login("kesha@popug.inc", &temporary).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let changed = app
        .change_password("kesha@popug.inc", &temporary, NEW_PASSWORD)
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    let manager = app
        .tokens("kesha@popug.inc", NEW_PASSWORD)
        .await
        .access_token;
    assert_eq!(jwt_part(&manager, 1)["role"], "manager");

    // A password the admin chooses is temporary too, and not echoed.
    let rio: Value = app
        .post_as(
            "/v1/accounts",
            &admin,
            &json!({"email": "rio@popug.inc", "full_name": "Rio", "password": "chosen temp 1"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(rio.get("temporary_password").is_none());
    let rio = serde_json::from_value::<CreatedAccount>(rio)
        .unwrap()
        .account;
    assert_eq!(rio.role, Role::Worker);
    assert!(rio.must_change_password);
    problem(
        app.login("rio@popug.inc", "chosen temp 1").await,
        StatusCode::FORBIDDEN,
    )
    .await;

    // Only admins: a manager's token is 403, a bad token 401; a taken email 409.
    let attempt = json!({"email": "mole@popug.inc", "full_name": "Mole", "role": "admin"});
    problem(
        app.post_as("/v1/accounts", &manager, &attempt).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    problem(
        app.post_as("/v1/accounts", "garbage", &attempt).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    problem(
        app.post_as(
            "/v1/accounts",
            &admin,
            &json!({"email": "RIO@popug.inc", "full_name": "Rio again"}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(
        emails(&app).await,
        vec![ADMIN_EMAIL, "kesha@popug.inc", "rio@popug.inc"]
    );
}

#[tokio::test]
async fn a_sign_up_cannot_choose_its_role_or_skip_its_password() {
    let app = TestApp::spawn().await;
    for role in ["admin", "worker"] {
        let body = problem(
            app.post(
                "/v1/accounts",
                &json!({"email": "mole@popug.inc", "password": PASSWORD,
                    "full_name": "Mole", "role": role}),
            )
            .await,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert!(text(&body["detail"]).contains("only an admin"));
    }
    let body = problem(
        app.post(
            "/v1/accounts",
            &json!({"email": "mole@popug.inc", "full_name": "Mole"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "password");
    assert_eq!(emails(&app).await, vec![ADMIN_EMAIL]);
}
