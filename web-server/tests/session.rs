//! The cookie session and the proxy against a real auth-api (its test
//! harness: a fresh database, a private JetStream broker): sign-up through
//! the proxy, login, refresh with rotation and reuse detection, logout,
//! password change, and the CSRF guard.

#![allow(clippy::unwrap_used)]

use ates_core::testing::problem;
use auth_api::testing::{PASSWORD, TestApp as AuthApp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use web_server::config::UpstreamUrls;
use web_server::testing::{WebApp, built_app, services_down, set_cookie, test_config};

const EMAIL: &str = "kesha@popug.inc";

/// web-server in front of a real auth-api, the other services down.
async fn start() -> (AuthApp, WebApp, tempfile::TempDir) {
    let auth = AuthApp::spawn().await;
    let dist = built_app();
    let upstreams = UpstreamUrls {
        auth: auth.address.clone(),
        ..services_down()
    };
    let web = WebApp::spawn(test_config(dist.path(), upstreams)).await;
    let signed_up = web
        .client
        .post(web.url("/api/auth/v1/accounts"))
        .json(&json!({"email": EMAIL, "password": PASSWORD, "full_name": "Kesha Popugaev"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_up.status(), StatusCode::CREATED);
    (auth, web, dist)
}

/// Asserts a session answer: the access token alone, never cached.
async fn access_token(response: reqwest::Response) -> String {
    let status = response.status();
    if status != StatusCode::OK {
        panic!("{status}: {}", response.text().await.unwrap());
    }
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    let fields: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        ["access_token", "expires_in", "token_type"],
        "{body}"
    );
    assert_eq!(body["token_type"], "Bearer");
    body["access_token"].as_str().unwrap().to_owned()
}

/// Asserts that `response` clears the session cookie.
fn assert_cleared(response: &reqwest::Response) {
    let (value, header) = set_cookie(response).expect("a Set-Cookie");
    assert_eq!(value, "");
    assert!(header.contains("Max-Age=0"), "{header}");
    assert!(header.contains("Path=/session"), "{header}");
}

/// Asserts that `response` ends the session: a 401 problem, never cached,
/// that clears the cookie.
async fn assert_ended(response: reqwest::Response) {
    assert_cleared(&response);
    assert_eq!(response.headers()["cache-control"], "no-store");
    problem(response, StatusCode::UNAUTHORIZED).await;
}

/// `POST /session/login` as Kesha with `password`.
async fn log_in(web: &WebApp, password: &str) -> reqwest::Response {
    web.session(
        "login",
        None,
        Some(&json!({"email": EMAIL, "password": password})),
    )
    .await
}

/// Logs in; the access token and the cookie's value.
async fn login(web: &WebApp) -> (String, String) {
    let response = log_in(web, PASSWORD).await;
    let set = set_cookie(&response);
    let access = access_token(response).await;
    let (cookie, header) = set.expect("login sets the cookie");
    assert_eq!(
        header,
        format!("ates_refresh={cookie}; HttpOnly; SameSite=Strict; Path=/session; Max-Age=3600")
    );
    (access, cookie)
}

#[tokio::test]
async fn login_sets_an_http_only_cookie_and_the_access_token_works_through_the_proxy() {
    let (_auth, web, _dist) = start().await;
    let (access, _cookie) = login(&web).await;
    let me = web
        .client
        .get(web.url("/api/auth/v1/accounts/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(me.headers()["x-frame-options"], "DENY");
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["email"], EMAIL);

    let anonymous = web.get("/api/auth/v1/accounts/me").await;
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    problem(anonymous, StatusCode::UNAUTHORIZED).await;

    let wrong = log_in(&web, "not the password").await;
    assert!(set_cookie(&wrong).is_none());
    assert_eq!(wrong.headers()["cache-control"], "no-store");
    problem(wrong, StatusCode::UNAUTHORIZED).await;
    let invalid = web
        .session("login", None, Some(&json!({"email": EMAIL})))
        .await;
    problem(invalid, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn refresh_rotates_the_cookie_and_a_reused_cookie_ends_the_session() {
    let (_auth, web, _dist) = start().await;
    let (_, first) = login(&web).await;

    let refreshed = web.session("refresh", Some(&first), None).await;
    let set = set_cookie(&refreshed);
    access_token(refreshed).await;
    let (second, header) = set.expect("refresh rotates the cookie");
    assert_ne!(second, first);
    assert!(
        header.contains("HttpOnly") && header.contains("SameSite=Strict"),
        "{header}"
    );

    // The spent cookie again: a 401 that clears it, and auth-api revokes
    // the whole login, so the new cookie fails too.
    let reused = web.session("refresh", Some(&first), None).await;
    assert_ended(reused).await;
    let revoked = web.session("refresh", Some(&second), None).await;
    assert_ended(revoked).await;

    let without = web.session("refresh", None, None).await;
    assert_ended(without).await;
    let garbage = web.session("refresh", Some("not-a-token"), None).await;
    assert_ended(garbage).await;
}

#[tokio::test]
async fn logout_revokes_the_session_and_clears_the_cookie() {
    let (_auth, web, _dist) = start().await;
    let (_, cookie) = login(&web).await;
    let out = web.session("logout", Some(&cookie), None).await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_eq!(out.headers()["cache-control"], "no-store");
    assert_cleared(&out);
    problem(
        web.session("refresh", Some(&cookie), None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let again = web.session("logout", None, None).await;
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
    assert_cleared(&again);
}

#[tokio::test]
async fn a_password_change_starts_a_new_session() {
    let (_auth, web, _dist) = start().await;
    let (_, old) = login(&web).await;
    let changed = web
        .session(
            "password",
            None,
            Some(&json!({"email": EMAIL, "current_password": PASSWORD, "new_password": "purple staple orbit"})),
        )
        .await;
    let new = set_cookie(&changed).map(|(value, _)| value);
    access_token(changed).await;
    let new = new.expect("a new session cookie");
    problem(
        web.session("refresh", Some(&old), None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    access_token(web.session("refresh", Some(&new), None).await).await;

    let wrong = web
        .session(
            "password",
            None,
            Some(&json!({"email": EMAIL, "current_password": PASSWORD, "new_password": "another long one"})),
        )
        .await;
    assert!(set_cookie(&wrong).is_none());
    problem(wrong, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn session_calls_without_the_guard_header_are_refused() {
    let (_auth, web, _dist) = start().await;
    let (_, cookie) = login(&web).await;
    for action in ["login", "refresh", "logout", "password"] {
        let response = web
            .client
            .post(web.url(&format!("/session/{action}")))
            .header("cookie", format!("ates_refresh={cookie}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("email=kesha%40popug.inc")
            .send()
            .await
            .unwrap();
        assert!(set_cookie(&response).is_none(), "{action}");
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert!(response.headers().contains_key("content-security-policy"));
        problem(response, StatusCode::FORBIDDEN).await;
    }
    let wrong_value = web
        .client
        .post(web.url("/session/refresh"))
        .header("x-ates-session", "yes")
        .header("cookie", format!("ates_refresh={cookie}"))
        .send()
        .await
        .unwrap();
    problem(wrong_value, StatusCode::FORBIDDEN).await;
    // Still a live session: nothing above spent the cookie.
    access_token(web.session("refresh", Some(&cookie), None).await).await;
    problem(web.get("/session/login").await, StatusCode::FORBIDDEN).await;
}

#[tokio::test]
async fn a_session_call_with_auth_api_down_is_a_503_with_retry_after() {
    let dist = built_app();
    let web = WebApp::spawn(test_config(dist.path(), services_down())).await;
    let response = log_in(&web, PASSWORD).await;
    assert!(response.headers().contains_key("retry-after"));
    assert!(set_cookie(&response).is_none());
    problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
}
