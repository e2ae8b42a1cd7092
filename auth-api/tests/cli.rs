//! The operator's subcommands, run as the real binary against the database
//! of a running service: create-admin, rotate-keys, openapi; and the served
//! binary's bootstrap admin.

#![allow(clippy::unwrap_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use ates_core::testing::{TestBroker, TestDatabase, eventually, free_port};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestApp, TokenResponse, jwt_part, problem};

/// The `auth-api` binary with `args`, on `app`'s database and broker.
fn auth_api_command(app: &TestApp, args: &[&str]) -> Command {
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
    command
}

fn auth_api(app: &TestApp, args: &[&str], password: Option<&str>) -> Output {
    let mut command = auth_api_command(app, args);
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
    let token = app
        .tokens("boss@popug.inc", "boss password 1")
        .await
        .access_token;
    assert_eq!(jwt_part(&token, 1)["role"], "admin");
    let created = app.wait_for_events("accounts.created", 2).await;
    assert!(created.iter().any(
        |event| event["data"]["email"] == "boss@popug.inc" && event["data"]["role"] == "admin"
    ));

    // Without a password, one is generated and printed once; it is
    // temporary: the first login must change it.
    let output = auth_api(&app, &["create-admin", "--email", "deputy@popug.inc"], None);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|line| line.starts_with("password: "))
        .expect("the generated password is printed");
    assert!(line.contains("temporary"), "{line}");
    let password = line
        .strip_prefix("password: ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap();
    let refused = problem(
        app.login("deputy@popug.inc", password).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        refused["type"],
        "https://ates.popug.inc/problems/password-change-required"
    );
    let changed = app
        .change_password("deputy@popug.inc", password, "deputy password 2")
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    app.tokens("deputy@popug.inc", "deputy password 2").await;
}

/// The served binary, stopped when the test ends however it ends.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn serve_prints_a_generated_bootstrap_password_that_must_be_changed() {
    let broker = TestBroker::start().await;
    let database = TestDatabase::create().await;
    let address = format!("127.0.0.1:{}", free_port());
    let mut command = Command::new(env!("CARGO_BIN_EXE_auth-api"));
    command
        .env("DATABASE_URL", database.url())
        .env("NATS_URL", broker.url())
        .env("BIND_ADDR", &address)
        .env("ATES_ADMIN_EMAIL", "root@popug.inc")
        .env("RUST_LOG", "warn")
        .env_remove("ATES_ADMIN_PASSWORD")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(prefix) = broker.prefix() {
        command.env("NATS_SUBJECT_PREFIX", prefix);
    }
    let mut served = Served(command.spawn().unwrap());
    let stdout = served.0.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find(|line| line.starts_with("bootstrap admin: "))
    })
    .await
    .unwrap()
    .expect("the bootstrap admin's password is printed");
    assert!(line.contains("must be changed"), "{line}");
    let password = line
        .split("temporary password: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();

    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://{address}{path}");
    let login = json!({"email": "root@popug.inc", "password": password});
    let refused = eventually(Duration::from_secs(20), "auth-api to serve", || async {
        client
            .post(url("/v1/auth/login"))
            .json(&login)
            .send()
            .await
            .ok()
    })
    .await;
    let refused = problem(refused, StatusCode::FORBIDDEN).await;
    assert_eq!(
        refused["type"],
        "https://ates.popug.inc/problems/password-change-required"
    );
    let change = json!({"email": "root@popug.inc", "current_password": password,
        "new_password": "root password 2"});
    let changed = client
        .post(url("/v1/auth/password"))
        .json(&change)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    let tokens: TokenResponse = changed.json().await.unwrap();
    assert_eq!(jwt_part(&tokens.access_token, 1)["role"], "admin");
}

#[tokio::test]
async fn rotate_keys_publishes_the_new_key_first_then_signs_with_it_and_keeps_the_old_one() {
    let app = TestApp::spawn().await;
    let old_token = app.admin_token().await;
    let old_kid = jwt_part(&old_token, 0)["kid"].as_str().unwrap().to_owned();
    let mut command = auth_api_command(&app, &["rotate-keys"]);
    let output = command.env("SIGNING_KEY_LEAD_SECS", "2").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("signing in 2 s"), "{stdout}");

    let jwks: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    let kids: Vec<String> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kids.len(), 2, "the new key is published at once: {kids:?}");
    assert_eq!(kids[1], old_kid);
    let new_kid = &kids[0];

    // Within the lead the old key still signs; then the new one does.
    let during = app.admin_token().await;
    assert_eq!(jwt_part(&during, 0)["kid"], old_kid.as_str(), "not yet");
    let new_token = eventually(Duration::from_secs(10), "the new key to sign", || async {
        let token = app.admin_token().await;
        (jwt_part(&token, 0)["kid"] == new_kid.as_str()).then_some(token)
    })
    .await;
    for token in [&old_token, &during, &new_token] {
        let me = app.get("/v1/accounts/me", Some(token)).await;
        assert_eq!(me.status(), StatusCode::OK);
    }
}

/// `openapi/auth-api.json` is generated from the code (`make openapi`);
/// this fails when they drift apart.
#[test]
fn the_committed_openapi_document_matches_the_code() {
    ates_core::testing::assert_committed_document(
        "auth-api.json",
        &ates_core::service::openapi::<auth_api::AuthApi>(),
    );
}
