//! The bounded hashing queues: when one is full, logins and sign-ups that
//! would wait in it get 503 with `Retry-After` at once, while a client
//! logging in where it logged in before waits in the first lane. Its own
//! test binary: the hashing pool is one per process, and this test holds
//! its threads.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use auth_api::domain::passwords::{self, HashingSettings};
use reqwest::StatusCode;
use support::{PASSWORD, TestApp, problem};

#[tokio::test]
async fn a_full_hashing_queue_answers_503_at_once_but_not_to_a_returning_client() {
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
    app.worker("rio@popug.inc").await;
    // Kesha has logged in from here before; Rio has not.
    app.tokens("kesha@popug.inc", PASSWORD).await;

    // The hashing thread takes one check and holds it; two more wait in
    // the queue.
    let hold = passwords::testing::hold();
    let login_later = |email: &'static str, password: &'static str| {
        let (client, url) = (app.client.clone(), app.url("/v1/auth/login"));
        tokio::spawn(async move {
            client
                .post(url)
                .json(&serde_json::json!({"email": email, "password": password}))
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    let guesses: Vec<_> = ["a@popug.inc", "b@popug.inc", "c@popug.inc"]
        .into_iter()
        .map(|email| login_later(email, "a guess"))
        .collect();
    let in_the_pool = |count: usize| {
        ates_core::testing::eventually(
            Duration::from_secs(10),
            "checks in the pool",
            move || async move { (passwords::testing::in_flight() == count).then_some(()) },
        )
    };
    in_the_pool(3).await;

    // The next login and sign-up are refused at once: with the thread
    // held, anything that waited for it would not answer at all.
    let login = tokio::time::timeout(
        Duration::from_secs(10),
        app.login("rio@popug.inc", PASSWORD),
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

    // Kesha, returning, is queued in the first lane instead.
    let kesha = login_later("kesha@popug.inc", PASSWORD);
    in_the_pool(4).await;
    drop(hold);
    assert_eq!(kesha.await.unwrap(), StatusCode::OK);
    for guess in guesses {
        assert_eq!(guess.await.unwrap(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.password_checks_run(), 5);

    // The refused login took no check of Rio's: Rio still has all three
    // (limit 3), so two typos and the right password get in.
    for _ in 0..2 {
        problem(
            app.login("rio@popug.inc", "wrong password!").await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    app.tokens("rio@popug.inc", PASSWORD).await;
    assert_eq!(app.password_checks_run(), 8);
}
