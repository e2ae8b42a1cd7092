//! The bounded hashing queue: when it is full, logins and sign-ups get 503
//! with `Retry-After` at once instead of waiting. Its own test binary: the
//! hashing pool is one per process, and this test holds its threads.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use auth_api::domain::passwords::{self, HashingSettings};
use reqwest::StatusCode;
use support::{PASSWORD, TestApp, problem};

#[tokio::test]
async fn a_full_hashing_queue_answers_503_with_retry_after_at_once() {
    let app = TestApp::spawn_with(|config| {
        config.password_hashing = HashingSettings {
            threads: 1,
            queue: 2,
        };
    })
    .await;
    assert_eq!(
        passwords::testing::settings(),
        HashingSettings {
            threads: 1,
            queue: 2
        }
    );
    app.worker("kesha@popug.inc").await;

    // The hashing thread takes one check and holds it; two more wait in
    // the queue.
    let hold = passwords::testing::hold();
    let waiting: Vec<_> = ["a@popug.inc", "b@popug.inc", "c@popug.inc"]
        .into_iter()
        .map(|email| {
            let (client, url) = (app.client.clone(), app.url("/v1/auth/login"));
            tokio::spawn(async move {
                client
                    .post(url)
                    .json(&serde_json::json!({"email": email, "password": "a guess"}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    ates_core::testing::eventually(
        Duration::from_secs(10),
        "three checks in the pool",
        || async { (passwords::testing::in_flight() == 3).then_some(()) },
    )
    .await;

    // The next login and sign-up are refused at once: with the thread
    // held, anything that waited for it would not answer at all.
    let login = tokio::time::timeout(
        Duration::from_secs(10),
        app.login("kesha@popug.inc", PASSWORD),
    )
    .await
    .expect("answered without waiting for the held hashing thread");
    assert_eq!(login.headers()["retry-after"], "1");
    let refused = problem(login, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(
        refused["type"],
        "https://ates.popug.inc/problems/overloaded"
    );
    let sign_up = tokio::time::timeout(
        Duration::from_secs(10),
        app.sign_up("new@popug.inc", "New Popug"),
    )
    .await
    .expect("answered at once");
    assert_eq!(sign_up.headers()["retry-after"], "1");
    problem(sign_up, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(passwords::testing::in_flight(), 3);

    drop(hold);
    for waiting in waiting {
        assert_eq!(waiting.await.unwrap(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.password_checks_run(), 3);

    // The refused login gave its check back: kesha still has all three
    // (limit 3), so two typos and the right password get in.
    for _ in 0..2 {
        problem(
            app.login("kesha@popug.inc", "wrong password!").await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    app.tokens("kesha@popug.inc", PASSWORD).await;
    assert_eq!(app.password_checks_run(), 6);
}
