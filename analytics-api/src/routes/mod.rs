//! analytics-api's HTTP surface (SPEC section 10) and its OpenAPI document.

pub mod dashboard;

use ates_core::http::health;
use ates_core::http::{HttpSettings, Problem, apply_conventions};
use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

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
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(dashboard::today))
        .routes(routes!(dashboard::most_expensive_task))
        .routes(routes!(dashboard::most_expensive_daily))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
}

/// The OpenAPI document, as served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut document = api().into_openapi();
    ates_core::http::document(&mut document);
    document
}

pub fn router(state: AppState, settings: &HttpSettings) -> anyhow::Result<Router> {
    let (router, document) = api().with_state(state).split_for_parts();
    apply_conventions(router, document, settings)
}
