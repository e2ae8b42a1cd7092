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

// The throttle's store on its own, with the clock passed in: what is
// remembered, for how long, and what is given back.

mod store {
    use std::net::IpAddr;
    use std::time::Duration;

    use ates_core::testing::TestDatabase;
    use auth_api::db::migrations::Migrator;
    use auth_api::db::{known_client, throttle_window};
    use auth_api::domain::AuthError;
    use auth_api::domain::passwords::Lane;
    use auth_api::domain::throttle::{self, Client, ThrottlePolicy};
    use chrono::{DateTime, TimeDelta, Utc};
    use sea_orm::{DatabaseConnection, EntityTrait};

    const EMAIL: &str = "kesha@popug.inc";
    const WINDOW: Duration = Duration::from_secs(60);
    const THIRTY_DAYS: TimeDelta = TimeDelta::days(30);

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            email_max_checks: 2,
            email_window: WINDOW,
            client_max_attempts: 100,
            client_window: WINDOW,
        }
    }

    fn client(address: &str) -> Client {
        Client(address.parse::<IpAddr>().unwrap())
    }

    async fn database() -> (TestDatabase, DatabaseConnection) {
        let database = TestDatabase::create().await;
        let db = ates_core::db::open::<Migrator>(database.url(), 4)
            .await
            .unwrap();
        (database, db)
    }

    /// Whether a password check for [`EMAIL`] is reserved at `now`.
    async fn check(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<(), AuthError> {
        throttle::reserve_password_check(db, &policy(), EMAIL, client("10.0.0.1"), now)
            .await
            .map(|_| ())
    }

    fn refused(outcome: Result<(), AuthError>) -> bool {
        matches!(outcome, Err(AuthError::Throttled { .. }))
    }

    #[tokio::test]
    async fn a_released_check_frees_its_slot_once_and_only_in_its_own_window() {
        let (_database, db) = database().await;
        let start = ates_core::db::now();
        let first =
            throttle::reserve_password_check(&db, &policy(), EMAIL, client("10.0.0.1"), start)
                .await
                .unwrap();
        // Released twice: the first gives the slot back, the second has
        // nothing left to give (the count never goes below zero).
        throttle::release(&db, first.clone()).await.unwrap();
        throttle::release(&db, first.clone()).await.unwrap();
        assert!(check(&db, start).await.is_ok());
        assert!(check(&db, start).await.is_ok());
        assert!(refused(check(&db, start).await), "the limit is 2 checks");

        // In the next window, a reservation of the ended one gives nothing back.
        let next = start + TimeDelta::seconds(61);
        assert!(check(&db, next).await.is_ok());
        throttle::release(&db, first).await.unwrap();
        assert!(check(&db, next).await.is_ok());
        assert!(
            refused(check(&db, next).await),
            "the ended window's release freed a slot"
        );
    }

    #[tokio::test]
    async fn an_address_an_account_logged_in_from_is_known_for_30_days() {
        let (_database, db) = database().await;
        let start = ates_core::db::now();
        let home = client("10.0.0.1");
        let lane = |email: &'static str, from: Client, at: DateTime<Utc>| {
            let db = db.clone();
            async move { throttle::lane_of(&db, email, from, at).await.unwrap() }
        };
        assert_eq!(
            lane(EMAIL, home, start).await,
            Lane::Other,
            "before any login"
        );

        let reservation = throttle::reserve_password_check(&db, &policy(), EMAIL, home, start)
            .await
            .unwrap();
        throttle::let_in(&db, reservation, EMAIL, home, start)
            .await
            .unwrap();
        assert_eq!(lane(EMAIL, home, start).await, Lane::Returning);
        assert_eq!(lane(EMAIL, client("10.0.0.2"), start).await, Lane::Other);
        assert_eq!(lane("other@popug.inc", home, start).await, Lane::Other);
        let almost = start + THIRTY_DAYS - TimeDelta::milliseconds(1);
        assert_eq!(lane(EMAIL, home, almost).await, Lane::Returning);
        assert_eq!(lane(EMAIL, home, start + THIRTY_DAYS).await, Lane::Other);

        // A later login there starts the 30 days again.
        let later = start + TimeDelta::days(20);
        let reservation = throttle::reserve_password_check(&db, &policy(), EMAIL, home, later)
            .await
            .unwrap();
        throttle::let_in(&db, reservation, EMAIL, home, later)
            .await
            .unwrap();
        assert_eq!(
            lane(EMAIL, home, start + THIRTY_DAYS).await,
            Lane::Returning
        );
    }

    /// The throttle windows' buckets, sorted.
    async fn buckets(db: &DatabaseConnection) -> Vec<String> {
        let windows = throttle_window::Entity::find().all(db).await.unwrap();
        let mut buckets: Vec<String> = windows.into_iter().map(|row| row.bucket).collect();
        buckets.sort();
        buckets
    }

    /// The known clients' addresses, sorted.
    async fn known(db: &DatabaseConnection) -> Vec<String> {
        let known = known_client::Entity::find().all(db).await.unwrap();
        let mut clients: Vec<String> = known.into_iter().map(|row| row.client).collect();
        clients.sort();
        clients
    }

    #[tokio::test]
    async fn pruning_deletes_ended_windows_and_addresses_unused_for_30_days() {
        let (_database, db) = database().await;
        let start = ates_core::db::now();
        let reserve = |email: &'static str, from: Client, at: DateTime<Utc>| {
            let db = db.clone();
            async move {
                throttle::reserve_password_check(&db, &policy(), email, from, at)
                    .await
                    .unwrap()
            }
        };
        // Four buckets: two emails and two addresses, the second pair
        // opened 30 s after the first.
        let first = reserve(EMAIL, client("10.0.0.1"), start).await;
        throttle::let_in(&db, first, EMAIL, client("10.0.0.1"), start)
            .await
            .unwrap();
        let half = start + TimeDelta::seconds(30);
        let second = reserve("other@popug.inc", client("10.0.0.2"), half).await;
        throttle::let_in(&db, second, "other@popug.inc", client("10.0.0.2"), half)
            .await
            .unwrap();

        assert_eq!(throttle::prune(&db, start).await.unwrap(), 0);
        assert_eq!(buckets(&db).await.len(), 4);
        // The first pair's window ends at start + 60 s, exactly.
        assert_eq!(
            throttle::prune(&db, start + TimeDelta::seconds(60))
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            buckets(&db).await,
            ["client:10.0.0.2", "email:other@popug.inc"]
        );
        assert_eq!(known(&db).await, ["client:10.0.0.1", "client:10.0.0.2"]);

        assert_eq!(throttle::prune(&db, start + THIRTY_DAYS).await.unwrap(), 2);
        assert_eq!(buckets(&db).await, Vec::<String>::new());
        assert_eq!(
            known(&db).await,
            ["client:10.0.0.2"],
            "unused for exactly 30 days"
        );
        assert_eq!(throttle::prune(&db, half + THIRTY_DAYS).await.unwrap(), 0);
        assert_eq!(known(&db).await, Vec::<String>::new());
    }
}
