//! The operator's subcommands, run as the real binary against the database
//! of a running service: create-admin, rotate-keys, openapi.

#![allow(clippy::unwrap_used)]

mod support;

use std::process::{Command, Output};

use reqwest::StatusCode;
use serde_json::Value;
use support::{TestApp, jwt_part};

fn auth_api(app: &TestApp, args: &[&str], password: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_auth-api"));
    command
        .args(args)
        .env("DATABASE_URL", app.database.url())
        .env("NATS_URL", app.broker.url())
        .env("RUST_LOG", "warn")
        .env_remove("ATES_ADMIN_PASSWORD");
    if let Some(prefix) = app.broker.prefix() {
        command.env("NATS_SUBJECT_PREFIX", prefix);
    }
    if let Some(password) = password {
        command.env("ATES_ADMIN_PASSWORD", password);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "auth-api {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[tokio::test]
async fn create_admin_makes_an_admin_who_can_log_in() {
    let app = TestApp::spawn().await;
    let output = auth_api(
        &app,
        &["create-admin", "--email", "Boss@Popug.inc"],
        Some("boss password 1"),
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("created admin boss@popug.inc"));
    let token = app.tokens("boss@popug.inc", "boss password 1").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(jwt_part(&token, 1)["role"], "admin");
    let created = app.wait_for_events("accounts.created", 2).await;
    assert!(created.iter().any(
        |event| event["data"]["email"] == "boss@popug.inc" && event["data"]["role"] == "admin"
    ));

    // Without a password, one is generated and printed once.
    let output = auth_api(&app, &["create-admin", "--email", "deputy@popug.inc"], None);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let password = stdout
        .lines()
        .find_map(|line| line.strip_prefix("password: "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the generated password is printed");
    app.tokens("deputy@popug.inc", password).await;
}

#[tokio::test]
async fn rotate_keys_signs_with_a_new_key_and_keeps_the_old_one_in_grace() {
    let app = TestApp::spawn().await;
    let old_token = app.admin_token().await;
    let old_kid = jwt_part(&old_token, 0)["kid"].as_str().unwrap().to_owned();
    let output = auth_api(&app, &["rotate-keys"], None);
    assert!(String::from_utf8_lossy(&output.stdout).contains("new signing key"));

    let jwks: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap())
        .collect();
    assert_eq!(
        kids.len(),
        2,
        "the active key and the one in grace: {kids:?}"
    );
    assert_eq!(kids[1], old_kid);

    let new_token = app.admin_token().await;
    assert_eq!(jwt_part(&new_token, 0)["kid"], kids[0], "the new key signs");
    for token in [&old_token, &new_token] {
        let me = app.get("/v1/accounts/me", Some(token)).await;
        assert_eq!(me.status(), StatusCode::OK);
    }
}

/// `openapi/auth-api.json` is generated from the code (`make openapi`);
/// this fails when they drift apart.
#[test]
fn the_committed_openapi_document_matches_the_code() {
    ates_core::testing::assert_committed_document("auth-api.json", &auth_api::routes::openapi());
}
