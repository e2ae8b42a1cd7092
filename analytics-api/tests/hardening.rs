//! analytics-api's share of the HTTP hardening. It takes no JSON body; what
//! it has: the bearer scheme in any case, a bad query a 422, and the shared
//! headers on every answer.

#![allow(clippy::unwrap_used)]

use analytics_api::testing::AnalyticsApp;
use ates_core::testing::{
    assert_bearer_any_case_and_no_store, assert_dates_bounded, assert_nosniff_everywhere, problem,
};
use auth_api::testing::TestApp as AuthApp;
use reqwest::StatusCode;

/// auth-api, analytics-api, and an admin's token analytics already knows.
async fn analytics_with_admin() -> (AuthApp, AnalyticsApp, String) {
    let auth = AuthApp::spawn().await;
    let analytics = AnalyticsApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let admin = auth.admin_token().await;
    analytics
        .wait_for_account(&auth.account_id_of(&admin).await, true)
        .await;
    (auth, analytics, admin)
}

#[tokio::test]
async fn the_dashboard_answers_to_any_bearer_case_and_is_never_cached() {
    let (_auth, analytics, admin) = analytics_with_admin().await;
    assert_bearer_any_case_and_no_store(
        &analytics.client,
        &analytics.url("/v1/dashboard/today"),
        &admin,
    )
    .await;
    let bad_range = analytics
        .get("/v1/most-expensive-tasks/daily?from=soon&to=later", &admin)
        .await;
    problem(bad_range, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_nosniff_everywhere(&analytics.client, &analytics.url("")).await;
}

#[tokio::test]
async fn every_date_parameter_is_bounded_and_a_bad_one_is_named() {
    let (_auth, analytics, admin) = analytics_with_admin().await;
    // A week or a month of the first and last accepted days reaches a few
    // days past them (1969-12-29, 9999-01-03), and still answers.
    for period in ["day", "week", "month"] {
        assert_dates_bounded(
            &analytics.client,
            &analytics.url(&format!(
                "/v1/most-expensive-task?period={period}&date={{}}"
            )),
            "date",
            &admin,
        )
        .await;
    }
    assert_dates_bounded(
        &analytics.client,
        &analytics.url("/v1/most-expensive-tasks/daily?from={}&to={}"),
        "from",
        &admin,
    )
    .await;
    let bad_end = analytics
        .get(
            "/v1/most-expensive-tasks/daily?from=2026-03-01&to=%2B262142-12-31",
            &admin,
        )
        .await;
    let body = problem(bad_end, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "to", "{body}");
}
