//! tasks-api's HTTP surface (docs/product.md §10) and its OpenAPI document.

pub mod people;
pub mod tasks;

use ates_core::http::{ApiError, ApiInfo};
use ates_core::idempotency::{self, Caller};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::domain::TaskError;

const INFO: ApiInfo = ApiInfo {
    title: "aTES tasks-api",
    description: "The task tracker: create tasks (assigned at random), shuffle, complete. Authenticate with an access token from auth-api (`Authorization: Bearer <token>`).",
    tags: &[
        ("tasks", "Tasks and their assignment"),
        ("people", "The accounts tasks go to, by name"),
    ],
};

/// Its routes with their OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    ates_core::http::service_api(INFO)
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
            TaskError::Internal(cause) => ApiError::internal(cause),
        }
    }
}
