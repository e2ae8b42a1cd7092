//! analytics-api's share of the HTTP hardening. It takes no JSON body; what
//! it has: the bearer scheme in any case, a bad query a 422, and the shared
//! headers on every answer.

#![allow(clippy::unwrap_used)]

use analytics_api::testing::AnalyticsApp;
use ates_core::testing::{assert_bearer_any_case_and_no_store, assert_nosniff_everywhere, problem};
use auth_api::testing::TestApp as AuthApp;
use reqwest::StatusCode;

#[tokio::test]
async fn the_dashboard_answers_to_any_bearer_case_and_is_never_cached() {
    let auth = AuthApp::spawn().await;
    let analytics = AnalyticsApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let admin = auth.admin_token().await;
    analytics
        .wait_for_account(&auth.account_id_of(&admin).await, true)
        .await;
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
