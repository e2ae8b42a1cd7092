//! auth-api over HTTP with a real database and a real JetStream broker.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use ates_core::testing::TestBroker;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{ADMIN_EMAIL, CreatedAccount, PASSWORD, Role, TestApp, jwt_part, problem};

// ---- sign-up ---------------------------------------------------------------

#[tokio::test]
async fn sign_up_creates_a_worker_and_publishes_accounts_created() {
    let app = TestApp::spawn().await;
    let response = app.sign_up("Kesha@Popug.INC", "Kesha Popugaev").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    for secret in ["password", "password_hash"] {
        assert!(
            body.get(secret).is_none(),
            "{secret} never leaves the service"
        );
    }
    let account = serde_json::from_value::<CreatedAccount>(body)
        .unwrap()
        .account;
    assert_eq!(account.email, "kesha@popug.inc");
    assert_eq!(account.full_name, "Kesha Popugaev");
    assert_eq!(account.role, Role::Worker);
    assert!(account.active);

    let created = app.wait_for_events("accounts.created", 2).await;
    let event = created
        .iter()
        .find(|event| event["data"]["account_id"] == account.id.to_string())
        .expect("an accounts.created for the new account");
    assert_eq!(event["producer"], "auth-api");
    assert_eq!(event["event_version"], 2);
    assert_eq!(event["data"]["revision"], 1);
    assert_eq!(event["data"]["role"], "worker");
    assert_eq!(event["data"]["email"], "kesha@popug.inc");
}

#[tokio::test]
async fn emails_are_unique_whatever_their_case() {
    let app = TestApp::spawn().await;
    app.worker("kesha@popug.inc").await;
    let body = problem(
        app.sign_up("KESHA@popug.inc", "Another Kesha").await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("already exists"));
}

#[tokio::test]
async fn names_and_emails_with_control_characters_are_422_not_stored() {
    let app = TestApp::spawn().await;
    for (body, field) in [
        // PostgreSQL refuses a NUL byte in text: a 422, never a 500.
        (
            json!({"email": "kesha@popug.inc", "password": "correct horse battery", "full_name": "Kesha\u{0}"}),
            "full_name",
        ),
        (
            json!({"email": "kesha@popug.inc", "password": "correct horse battery", "full_name": "Kesha\r\nBcc: x@y.z"}),
            "full_name",
        ),
        (
            json!({"email": "kesha@popug.inc", "password": "correct horse battery", "full_name": "Kesha\u{202E}gnip"}),
            "full_name",
        ),
        (
            json!({"email": "kesha\u{0}@popug.inc", "password": "correct horse battery", "full_name": "Kesha"}),
            "email",
        ),
    ] {
        let body = problem(
            app.post("/v1/accounts", &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        let fields: Vec<&str> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|error| error["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&field), "{body}");
    }
    // Nothing was stored: the honest sign-up with that email succeeds.
    let response = app
        .post(
            "/v1/accounts",
            &json!({"email": "kesha@popug.inc", "password": "correct horse battery", "full_name": "Kesha"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn sign_up_with_invalid_fields_is_422_naming_each_field() {
    let app = TestApp::spawn().await;
    let response = app
        .post(
            "/v1/accounts",
            &json!({"email": "not-an-email", "password": "short", "full_name": "   "}),
        )
        .await;
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["email", "full_name", "password"]);
}

#[tokio::test]
async fn bad_requests_get_problem_details_with_the_right_status() {
    let app = TestApp::spawn().await;
    let malformed = app
        .client
        .post(app.url("/v1/accounts"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    problem(malformed, StatusCode::BAD_REQUEST).await;

    let wrong_shape = app.post("/v1/accounts", &json!({"email": 42})).await;
    problem(wrong_shape, StatusCode::UNPROCESSABLE_ENTITY).await;

    let no_content_type = app
        .client
        .post(app.url("/v1/accounts"))
        .body("{}")
        .send()
        .await
        .unwrap();
    problem(no_content_type, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;

    let huge_name = "p".repeat(32 * 1024);
    let too_large = app
        .post(
            "/v1/accounts",
            &json!({"email": "big@popug.inc", "password": PASSWORD, "full_name": huge_name}),
        )
        .await;
    problem(too_large, StatusCode::PAYLOAD_TOO_LARGE).await;

    problem(
        app.get("/v1/nothing-here", None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let wrong_method = app
        .client
        .delete(app.url("/v1/accounts"))
        .send()
        .await
        .unwrap();
    problem(wrong_method, StatusCode::METHOD_NOT_ALLOWED).await;

    let admin = app.admin_token().await;
    problem(
        app.get("/v1/accounts/not-a-uuid", Some(&admin)).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    // None of it stored anything.
    assert_eq!(
        app.accounts(&admin).await.len(),
        1,
        "only the bootstrap admin"
    );
}

// ---- login and tokens ----------------------------------------------------

#[tokio::test]
async fn login_returns_an_eddsa_token_with_the_documented_claims() {
    let app = TestApp::spawn().await;
    let account = app.worker("kesha@popug.inc").await.account;
    let tokens = app.tokens("KESHA@popug.inc", PASSWORD).await;
    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!(tokens.expires_in, 900);
    assert!(tokens.refresh_token.len() >= 40);

    let access = &tokens.access_token;
    let header = jwt_part(access, 0);
    assert_eq!(header["alg"], "EdDSA");
    let jwks: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(header["kid"], jwks["keys"][0]["kid"]);
    let claims = jwt_part(access, 1);
    assert_eq!(claims["iss"], "ates-auth");
    assert_eq!(claims["aud"], "ates");
    assert_eq!(claims["sub"], account.id.to_string());
    assert_eq!(claims["role"], "worker");
    assert_eq!(claims["email"], "kesha@popug.inc");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    assert!(claims["jti"].is_string());

    assert_eq!(app.me(access).await.id, account.id);
}

#[tokio::test]
async fn every_login_failure_is_the_same_401() {
    let app = TestApp::spawn().await;
    app.worker("kesha@popug.inc").await;
    let wrong_password = problem(
        app.login("kesha@popug.inc", "wrong password!").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let unknown_email = problem(
        app.login("nobody@popug.inc", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(wrong_password, unknown_email);
}

#[tokio::test]
async fn repeated_failures_are_throttled_until_the_window_ends() {
    let app = TestApp::spawn_with(|config| {
        // Long enough that three hashed guesses stay inside it on a machine
        // busy with other suites (6 s was seen to run out).
        config.login_failure_window = Duration::from_secs(15);
    })
    .await;
    app.worker("kesha@popug.inc").await;
    for _ in 0..3 {
        problem(
            app.login("kesha@popug.inc", "wrong password!").await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    let throttled = app.login("kesha@popug.inc", PASSWORD).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=15).contains(&retry_after),
        "until the end of the window: {retry_after}"
    );
    problem(throttled, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(
        app.password_checks_run(),
        3,
        "the throttled login was not checked"
    );
    // Another email is not affected.
    app.worker("rio@popug.inc").await;
    app.tokens("rio@popug.inc", PASSWORD).await;
    // The window ends by itself: a stranger cannot lock the owner out for good.
    ates_core::testing::eventually(Duration::from_secs(40), "the window to end", || async {
        (app.login("kesha@popug.inc", PASSWORD).await.status() == StatusCode::OK).then_some(())
    })
    .await;
}

#[tokio::test]
async fn successful_logins_give_their_check_back() {
    let app = TestApp::spawn().await;
    app.worker("kesha@popug.inc").await;
    // Two typos keep their slots; the limit is 3.
    for _ in 0..2 {
        problem(
            app.login("kesha@popug.inc", "wrong password!").await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    // The owner logs in again and again: each success gives its slot back.
    for _ in 0..10 {
        app.tokens("kesha@popug.inc", PASSWORD).await;
    }
    // So one failure is still allowed, and the next attempt is refused.
    problem(
        app.login("kesha@popug.inc", "wrong password!").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    problem(
        app.login("kesha@popug.inc", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    assert_eq!(app.password_checks_run(), 13);
}

// ---- refresh tokens ------------------------------------------------------

#[tokio::test]
async fn refresh_rotates_the_refresh_token() {
    let app = TestApp::spawn().await;
    app.worker("kesha@popug.inc").await;
    let first = app.tokens("kesha@popug.inc", PASSWORD).await;
    let second = app.refreshed(&first.refresh_token).await;
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_ne!(second.access_token, first.access_token);
    let me = app.get("/v1/accounts/me", Some(&second.access_token)).await;
    assert_eq!(me.status(), StatusCode::OK);
    let third = app.refresh(&second.refresh_token).await;
    assert_eq!(third.status(), StatusCode::OK);
}

#[tokio::test]
async fn reusing_a_spent_refresh_token_revokes_its_whole_family() {
    let app = TestApp::spawn().await;
    app.worker("kesha@popug.inc").await;
    let stolen = app.tokens("kesha@popug.inc", PASSWORD).await.refresh_token;
    let legitimate = app.refreshed(&stolen).await;
    // The thief replays the spent token: refused, and the family dies.
    let body = problem(app.refresh(&stolen).await, StatusCode::UNAUTHORIZED).await;
    assert!(body["detail"].as_str().unwrap().contains("already used"));
    problem(
        app.refresh(&legitimate.refresh_token).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // Another login is another family and works.
    let other = app.tokens("kesha@popug.inc", PASSWORD).await;
    assert_eq!(
        app.refresh(&other.refresh_token).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn logout_revokes_the_family() {
    let app = TestApp::spawn().await;
    app.worker("kesha@popug.inc").await;
    let tokens = app.tokens("kesha@popug.inc", PASSWORD).await;
    let rotated = app.refreshed(&tokens.refresh_token).await;
    let refresh = &rotated.refresh_token;
    assert_eq!(app.logout(refresh).await.status(), StatusCode::NO_CONTENT);
    problem(app.refresh(refresh).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        app.logout(refresh).await.status(),
        StatusCode::NO_CONTENT,
        "twice is fine"
    );
    problem(app.logout("never-issued").await, StatusCode::UNAUTHORIZED).await;
    problem(
        app.post("/v1/auth/refresh", &json!({"refresh_token": ""}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}

// ---- administration --------------------------------------------------------

#[tokio::test]
async fn only_admins_list_and_change_accounts() {
    let app = TestApp::spawn().await;
    let kesha = app.worker("kesha@popug.inc").await.account;
    let rio = app.worker("rio@popug.inc").await.account;
    let worker = app.access_token("kesha@popug.inc").await;
    let id = &rio.id.to_string();

    problem(
        app.get("/v1/accounts", None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    problem(
        app.get("/v1/accounts", Some("garbage")).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    problem(
        app.get("/v1/accounts", Some(&worker)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    problem(
        app.get(&format!("/v1/accounts/{id}"), Some(&worker)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    problem(
        app.patch(
            &format!("/v1/accounts/{id}"),
            &worker,
            &json!({"role": "admin"}),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let own = app
        .get(&format!("/v1/accounts/{}", kesha.id), Some(&worker))
        .await;
    assert_eq!(own.status(), StatusCode::OK, "an account sees itself");

    let admin = app.admin_token().await;
    let all = app.accounts(&admin).await;
    let emails: Vec<&str> = all.iter().map(|a| a.email.as_str()).collect();
    assert_eq!(
        emails,
        vec![ADMIN_EMAIL, "kesha@popug.inc", "rio@popug.inc"]
    );
    let one = app.account(&admin, id).await;
    assert_eq!(one.email, "rio@popug.inc");
    let missing = format!("/v1/accounts/{}", uuid::Uuid::new_v4());
    problem(app.get(&missing, Some(&admin)).await, StatusCode::NOT_FOUND).await;
    problem(
        app.patch(&missing, &admin, &json!({"active": false})).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.patch(
            &format!("/v1/accounts/{id}"),
            &admin,
            &json!({"role": "boss"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    problem(
        app.patch(
            &format!("/v1/accounts/{id}"),
            &admin,
            &json!({"colour": "green"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}

#[tokio::test]
async fn changing_an_account_publishes_its_events() {
    let app = TestApp::spawn().await;
    let rio = app.worker("rio@popug.inc").await.account.id.to_string();
    let admin = app.admin_token().await;
    let path = format!("/v1/accounts/{rio}");

    let renamed = app
        .update_account(
            &admin,
            &rio,
            &json!({"full_name": "Rio de Popug", "role": "manager"}),
        )
        .await;
    assert_eq!(renamed.role, Role::Manager);
    assert_eq!(renamed.full_name, "Rio de Popug");
    let updated = app.wait_for_events("accounts.updated", 1).await;
    assert_eq!(updated[0]["data"]["role"], "manager");
    assert_eq!(updated[0]["data"]["full_name"], "Rio de Popug");
    let role_changed = app.wait_for_events("accounts.role_changed", 1).await;
    assert_eq!(role_changed[0]["data"]["previous_role"], "worker");
    assert_eq!(role_changed[0]["data"]["role"], "manager");

    let unchanged = app.patch(&path, &admin, &json!({"role": "manager"})).await;
    assert_eq!(unchanged.status(), StatusCode::OK);
    app.patch(&path, &admin, &json!({"active": false})).await;
    let deactivated = app.wait_for_events("accounts.deactivated", 1).await;
    assert_eq!(deactivated[0]["data"]["account_id"], rio);
    let events = app.account_events().await;
    let names: Vec<&str> = events
        .iter()
        .map(|event| event["event_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "accounts.created",
            "accounts.created",
            "accounts.updated",
            "accounts.role_changed",
            "accounts.updated",
            "accounts.deactivated"
        ],
        "a no-op change publishes nothing"
    );
    // Each change moves the revision on by one; the events of one change
    // share it (the no-op moved nothing).
    let revisions: Vec<(&str, i64)> = events
        .iter()
        .filter(|event| event["data"]["account_id"] == rio)
        .map(|event| {
            assert_eq!(event["event_version"], 2, "{event}");
            (
                event["event_name"].as_str().unwrap(),
                event["data"]["revision"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        revisions,
        vec![
            ("accounts.created", 1),
            ("accounts.updated", 2),
            ("accounts.role_changed", 2),
            ("accounts.updated", 3),
            ("accounts.deactivated", 3)
        ]
    );
}

#[tokio::test]
async fn a_deactivated_account_is_refused_everywhere_in_auth() {
    let app = TestApp::spawn().await;
    let kesha = app.worker("kesha@popug.inc").await.account;
    let tokens = app.tokens("kesha@popug.inc", PASSWORD).await;
    let admin = app.admin_token().await;
    let path = format!("/v1/accounts/{}", kesha.id);
    app.patch(&path, &admin, &json!({"active": false})).await;

    problem(
        app.login("kesha@popug.inc", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    problem(
        app.refresh(&tokens.refresh_token).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let body = problem(
        app.get("/v1/accounts/me", Some(&tokens.access_token)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("deactivated"));

    // Reactivated: a new login works; the old sessions stay revoked.
    app.patch(&path, &admin, &json!({"active": true})).await;
    app.tokens("kesha@popug.inc", PASSWORD).await;
    problem(
        app.refresh(&tokens.refresh_token).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_demoted_or_deactivated() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let me = app.me(&admin).await;
    let path = format!("/v1/accounts/{}", me.id);
    problem(
        app.patch(&path, &admin, &json!({"role": "worker"})).await,
        StatusCode::CONFLICT,
    )
    .await;
    problem(
        app.patch(&path, &admin, &json!({"active": false})).await,
        StatusCode::CONFLICT,
    )
    .await;

    let rio = app.worker("rio@popug.inc").await;
    app.patch(
        &format!("/v1/accounts/{}", rio.account.id),
        &admin,
        &json!({"role": "admin"}),
    )
    .await;
    let demoted = app.patch(&path, &admin, &json!({"role": "worker"})).await;
    assert_eq!(demoted.status(), StatusCode::OK, "another admin exists now");
}

// ---- start-up: bootstrap admin and keys -------------------------------------

#[tokio::test]
async fn the_bootstrap_admin_and_the_signing_key_survive_restarts() {
    let mut app = TestApp::spawn().await;
    let before: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    let token = app.admin_token().await;
    app.restart().await;

    let after: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(before, after, "keys are not regenerated on restart");
    let me = app.get("/v1/accounts/me", Some(&token)).await;
    assert_eq!(me.status(), StatusCode::OK, "old tokens still verify");
    let admin = app.admin_token().await;
    assert_eq!(
        app.accounts(&admin).await.len(),
        1,
        "one bootstrap admin, however many starts"
    );
    // The marker: an account created after the restarts. Its event comes
    // after any a restart could have published (one outbox, in order).
    let marker = app.worker("marker@popug.inc").await.account;
    let created = app.wait_for_events("accounts.created", 2).await;
    assert_eq!(
        created[1]["data"]["account_id"],
        marker.id.to_string(),
        "the marker comes last"
    );
    assert_eq!(
        created[0]["data"]["email"], ADMIN_EMAIL,
        "one accounts.created for the admin"
    );
}

#[tokio::test]
async fn retired_keys_leave_the_jwks_after_the_grace_period() {
    let app = TestApp::spawn_with(|config| {
        config.access_token_ttl = Duration::from_secs(1);
        config.signing_key_grace = Duration::from_secs(1);
    })
    .await;
    let db = app.database.connect().await;
    auth_api::domain::keys::rotate(&db, Duration::ZERO)
        .await
        .unwrap();
    let jwks: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let jwks: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
}

// ---- operations ------------------------------------------------------------

#[tokio::test]
async fn health_docs_and_cors_are_served() {
    let app = TestApp::spawn().await;
    let health: Value = app.get("/healthz", None).await.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(app.get("/swagger-ui/", None).await.status(), StatusCode::OK);
    let document: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(document["paths"]["/v1/auth/login"]["post"].is_object());

    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/v1/auth/login"))
        .header("origin", "https://spa.popug.inc")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://spa.popug.inc"
    );
    let foreign = app
        .client
        .get(app.url("/healthz"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(
        foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn readyz_reports_a_broker_outage() {
    // A private broker even when NATS_URL names a shared one: the test stops
    // it.
    let mut app = TestApp::spawn_on(TestBroker::private().await, |_| {}).await;
    app.broker.server().stop().await;
    let unready =
        ates_core::testing::eventually(Duration::from_secs(10), "readyz to fail", || async {
            let response = app.get("/readyz", None).await;
            (response.status() == StatusCode::SERVICE_UNAVAILABLE).then_some(response)
        })
        .await;
    let body = problem(unready, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(body["detail"].as_str().unwrap().contains("broker"));
    // Signing up still works while the broker is down: the event waits.
    let kesha = app.worker("kesha@popug.inc").await.account;
    app.broker.server().resume().await;
    let created = app.wait_for_events("accounts.created", 2).await;
    assert!(
        created
            .iter()
            .any(|event| event["data"]["account_id"] == kesha.id.to_string())
    );
}
