//! Throttling under concurrency, per address, behind proxies and across
//! two instances on one database: the real service over HTTP.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;

use futures::future::join_all;
use reqwest::{Client, Response, StatusCode};
use serde_json::json;
use support::{PASSWORD, TestApp, problem};

const GUESSES: usize = 200;
const LIMIT: u64 = 3;
/// [`LIMIT`] as a count of answers.
const LIMIT_ANSWERS: usize = 3;

/// One login request to `url`, its status and `Retry-After`, if any.
async fn login_at(
    client: &Client,
    url: &str,
    email: &str,
    password: &str,
    forwarded_for: Option<&[u8]>,
) -> (StatusCode, Option<u64>) {
    let mut request = client
        .post(url)
        .json(&json!({"email": email, "password": password}));
    if let Some(forwarded_for) = forwarded_for {
        request = request.header(
            "x-forwarded-for",
            reqwest::header::HeaderValue::from_bytes(forwarded_for).unwrap(),
        );
    }
    let response = request.send().await.unwrap();
    outcome(response).await
}

async fn outcome(response: Response) -> (StatusCode, Option<u64>) {
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().parse().unwrap());
    assert_eq!(
        response.headers()["content-type"],
        if status.is_success() {
            "application/json"
        } else {
            "application/problem+json"
        }
    );
    (status, retry_after)
}

/// Sends `passwords[i]` as guess `i` for `email`, all at once, to the
/// given login URLs in turn; returns each answer in order.
async fn simultaneous_guesses(
    urls: &[String],
    email: &str,
    passwords: Vec<String>,
) -> Vec<(StatusCode, Option<u64>)> {
    let client = Client::new();
    let guesses = passwords.into_iter().enumerate().map(|(index, password)| {
        let client = client.clone();
        let url = urls[index % urls.len()].clone();
        let email = email.to_owned();
        tokio::spawn(async move { login_at(&client, &url, &email, &password, None).await })
    });
    join_all(guesses)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

fn tally(answers: &[(StatusCode, Option<u64>)]) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    for (status, retry_after) in answers {
        *counts.entry(status.as_u16()).or_default() += 1;
        if *status == StatusCode::TOO_MANY_REQUESTS {
            let seconds = retry_after.expect("every 429 says when to come back");
            assert!((1..=900).contains(&seconds), "Retry-After {seconds}");
        }
    }
    counts
}

fn wrong_guesses() -> Vec<String> {
    (0..GUESSES)
        .map(|index| format!("wrong password {index}"))
        .collect()
}

#[tokio::test]
async fn simultaneous_wrong_guesses_for_one_email_run_exactly_the_limit_of_checks() {
    let app = TestApp::spawn().await;
    app.worker("kesha@popug.inc").await;
    let answers = simultaneous_guesses(
        &[app.url("/v1/auth/login")],
        "kesha@popug.inc",
        wrong_guesses(),
    )
    .await;
    assert_eq!(
        tally(&answers),
        BTreeMap::from([(401, LIMIT_ANSWERS), (429, GUESSES - LIMIT_ANSWERS)])
    );
    assert_eq!(app.password_checks_run(), LIMIT);
}

#[tokio::test]
async fn the_right_password_as_guess_150_of_200_is_not_let_in() {
    let app = TestApp::spawn().await;
    app.worker("kesha@popug.inc").await;
    let mut passwords = wrong_guesses();
    passwords[149] = PASSWORD.to_owned();
    let answers =
        simultaneous_guesses(&[app.url("/v1/auth/login")], "kesha@popug.inc", passwords).await;
    assert_eq!(answers[149].0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        tally(&answers),
        BTreeMap::from([(401, LIMIT_ANSWERS), (429, GUESSES - LIMIT_ANSWERS)])
    );
    assert_eq!(app.password_checks_run(), LIMIT);
}

#[tokio::test]
async fn two_instances_on_one_database_share_the_limit() {
    let app = TestApp::spawn().await;
    let other = app.another_instance().await;
    app.worker("kesha@popug.inc").await;
    let urls = [app.url("/v1/auth/login"), other.url("/v1/auth/login")];
    let answers = simultaneous_guesses(&urls, "kesha@popug.inc", wrong_guesses()).await;
    assert_eq!(
        tally(&answers),
        BTreeMap::from([(401, LIMIT_ANSWERS), (429, GUESSES - LIMIT_ANSWERS)])
    );
    let checks = app.password_checks_run()
        + other
            .password_checks
            .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(checks, LIMIT);
    // Both instances took part: neither could have counted alone.
    let refused_by = |index: usize| {
        answers
            .iter()
            .skip(index)
            .step_by(2)
            .filter(|(status, _)| *status == StatusCode::TOO_MANY_REQUESTS)
            .count()
    };
    assert!(refused_by(0) > 0 && refused_by(1) > 0);
}

#[tokio::test]
async fn the_address_limit_counts_only_what_the_email_throttle_let_through() {
    let app = TestApp::spawn_with(|config| config.client_max_attempts = 6).await;
    app.worker("kesha@popug.inc").await; // 1
    app.worker("rio@popug.inc").await; // 2
    for _ in 0..3 {
        // 3, 4, 5
        problem(
            app.login("kesha@popug.inc", "wrong password!").await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    // Refused by kesha's throttle: not counted against the address.
    for _ in 0..10 {
        let refused = problem(
            app.login("kesha@popug.inc", PASSWORD).await,
            StatusCode::TOO_MANY_REQUESTS,
        )
        .await;
        assert!(refused["detail"].as_str().unwrap().contains("this email"));
    }
    app.tokens("rio@popug.inc", PASSWORD).await; // 6
    // The address has used its window: logins and sign-ups alike.
    let login = app.login("rio@popug.inc", PASSWORD).await;
    assert!(login.headers().contains_key("retry-after"));
    let refused = problem(login, StatusCode::TOO_MANY_REQUESTS).await;
    assert!(refused["detail"].as_str().unwrap().contains("your address"));
    let sign_up = app.sign_up("new@popug.inc", "New Popug").await;
    assert!(sign_up.headers().contains_key("retry-after"));
    problem(sign_up, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(app.password_checks_run(), 4);
}

/// A login of an unknown email (a decoy check, 401) from `forwarded_for`.
async fn login_forwarded(app: &TestApp, forwarded_for: &[u8], email: &str) -> StatusCode {
    login_at(
        &app.client,
        &app.url("/v1/auth/login"),
        email,
        "some password",
        Some(forwarded_for),
    )
    .await
    .0
}

#[tokio::test]
async fn forwarded_for_names_the_client_only_behind_a_trusted_proxy() {
    let behind_proxy = TestApp::spawn_with(|config| {
        config.client_max_attempts = 2;
        config.trusted_proxies = "127.0.0.1".parse().unwrap();
    })
    .await;
    let app = &behind_proxy;
    // The client wrote 1.1.1.1 itself; the proxy appended 198.51.100.1.
    let kesha = b"1.1.1.1, 198.51.100.1";
    assert_eq!(login_forwarded(app, kesha, "a@popug.inc").await, 401);
    assert_eq!(
        login_forwarded(app, b"198.51.100.1", "b@popug.inc").await,
        401
    );
    assert_eq!(
        login_forwarded(app, b"9.9.9.9, 198.51.100.1", "c@popug.inc").await,
        429,
        "the left part is the client's own word and changes nothing"
    );
    // Another client behind the same proxy has its own count.
    assert_eq!(
        login_forwarded(app, b"198.51.100.2", "d@popug.inc").await,
        401
    );
    // Unreadable headers are counted against the proxy, never a 500.
    assert_eq!(login_forwarded(app, b"garbage", "e@popug.inc").await, 401);
    assert_eq!(login_forwarded(app, b"\xff\xfe", "f@popug.inc").await, 401);
    assert_eq!(login_forwarded(app, b", ,", "g@popug.inc").await, 429);

    // Without trusted proxies the header is ignored: spoofing a new
    // address for each request does not escape the peer's count.
    let direct = TestApp::spawn_with(|config| config.client_max_attempts = 2).await;
    assert_eq!(
        login_forwarded(&direct, b"203.0.113.1", "a@popug.inc").await,
        401
    );
    assert_eq!(
        login_forwarded(&direct, b"203.0.113.2", "b@popug.inc").await,
        401
    );
    assert_eq!(
        login_forwarded(&direct, b"203.0.113.3", "c@popug.inc").await,
        429
    );
    assert_eq!(behind_proxy.password_checks_run(), 5);
    assert_eq!(direct.password_checks_run(), 2);
}

#[tokio::test]
async fn a_login_that_succeeds_gives_its_slot_back_and_only_its_own() {
    let app = TestApp::spawn().await;
    app.worker("kesha@popug.inc").await;
    let client = Client::new();
    let url = app.url("/v1/auth/login");
    let login = |password: &'static str| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            login_at(&client, &url, "kesha@popug.inc", password, None)
                .await
                .0
        }
    };
    // LIMIT - 1 failures, then the right password, which gives its own
    // check back: exactly one more failure fits in the window, then 429.
    for _ in 1..LIMIT {
        assert_eq!(login("wrong password").await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login(PASSWORD).await, StatusCode::OK);
    assert_eq!(login("wrong password").await, StatusCode::UNAUTHORIZED);
    assert_eq!(login("wrong password").await, StatusCode::TOO_MANY_REQUESTS);
    // A success never clears the failures that were counted: now even the
    // right password waits for the window's end.
    assert_eq!(login(PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.password_checks_run(), LIMIT + 1);
}
