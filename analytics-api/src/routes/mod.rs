//! analytics-api's HTTP surface (docs/product.md §10) and its OpenAPI document.

pub mod dashboard;

use ates_core::http::{ApiError, ApiInfo};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::domain::AnalyticsError;

const INFO: ApiInfo = ApiInfo {
    title: "aTES analytics-api",
    description: "The admin dashboard: management earnings, negative balances, the most expensive tasks. Admins only; authenticate with an access token from auth-api.",
    tags: &[("analytics", "The admin dashboard")],
};

/// Its routes with their OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    ates_core::http::service_api(INFO)
        .routes(routes!(dashboard::today))
        .routes(routes!(dashboard::most_expensive_task))
        .routes(routes!(dashboard::most_expensive_daily))
}

/// The one place a domain error becomes an HTTP answer.
impl From<AnalyticsError> for ApiError {
    fn from(error: AnalyticsError) -> Self {
        match error {
            AnalyticsError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}
