//! analytics-api's HTTP surface (docs/product.md §10) and its OpenAPI document.

pub mod dashboard;

use ates_core::http::{ApiError, HttpSettings, Problem};
use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::domain::AnalyticsError;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "aTES analytics-api",
        description = "The admin dashboard: management earnings, negative balances, the most expensive tasks. Admins only; authenticate with an access token from auth-api.",
        version = "1.0.0"
    ),
    components(schemas(Problem)),
    tags(
        (name = "analytics", description = "The admin dashboard"),
        (name = "health", description = "Liveness and readiness")
    )
)]
struct ApiDoc;

fn api() -> OpenApiRouter<AppState> {
    ates_core::http::service_api(ApiDoc::openapi())
        .routes(routes!(dashboard::today))
        .routes(routes!(dashboard::most_expensive_task))
        .routes(routes!(dashboard::most_expensive_daily))
}

/// The OpenAPI document, as served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ates_core::http::openapi_of(api())
}

pub fn router(state: AppState, settings: &HttpSettings) -> anyhow::Result<Router> {
    ates_core::http::service_app(api(), state, settings)
}

/// The one place a domain error becomes an HTTP answer.
impl From<AnalyticsError> for ApiError {
    fn from(error: AnalyticsError) -> Self {
        match error {
            AnalyticsError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}
