//! tasks-api's HTTP surface (docs/product.md §10) and its OpenAPI document.

pub mod people;
pub mod tasks;

use ates_core::http::{ApiError, HttpSettings, Problem};
use ates_core::idempotency::{self, Caller, IdempotencyStore};
use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::domain::TaskError;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "aTES tasks-api",
        description = "The task tracker: create tasks (assigned at random), shuffle, complete. Authenticate with an access token from auth-api (`Authorization: Bearer <token>`).",
        version = "1.0.0"
    ),
    components(schemas(Problem)),
    tags(
        (name = "tasks", description = "Tasks and their assignment"),
        (name = "people", description = "The accounts tasks go to, by name"),
        (name = "health", description = "Liveness and readiness")
    )
)]
struct ApiDoc;

fn api() -> OpenApiRouter<AppState> {
    ates_core::http::service_api(ApiDoc::openapi())
        .routes(idempotency::route(Caller::Account, routes!(tasks::create)))
        .routes(routes!(tasks::list))
        .routes(routes!(tasks::mine))
        .routes(idempotency::route(Caller::Account, routes!(tasks::shuffle)))
        .routes(routes!(tasks::get_one))
        .routes(idempotency::route(
            Caller::Account,
            routes!(tasks::complete),
        ))
        .routes(routes!(people::list_people))
}

/// The OpenAPI document, as served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ates_core::http::openapi_of(api())
}

pub fn router(state: AppState, settings: &HttpSettings) -> anyhow::Result<Router> {
    let idempotency =
        IdempotencyStore::new(state.db.clone(), state.authenticator.clone(), settings);
    ates_core::http::service_app(api().layer(idempotency.layer()), state, settings)
}

/// The one place a domain error becomes an HTTP answer.
impl From<TaskError> for ApiError {
    fn from(error: TaskError) -> Self {
        match error {
            TaskError::NoEligibleAssignee | TaskError::AlreadyDone => {
                ApiError::Conflict(error.to_string())
            }
            TaskError::NotFound => ApiError::NotFound(error.to_string()),
            TaskError::NotTheAssignee => ApiError::Forbidden(error.to_string()),
            TaskError::RefusedValue => ApiError::invalid_field("body", error.to_string()),
            TaskError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}
