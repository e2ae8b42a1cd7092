//! accounting-api's HTTP surface (docs/product.md §10) and its OpenAPI document.

pub mod accounting;

use ates_core::http::{ApiError, HttpSettings, Problem};
use ates_core::idempotency::{self, Caller, IdempotencyStore};
use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::domain::AccountingError;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "aTES accounting-api",
        description = "Balances, the audit log, management earnings and billing cycles. Money is in integer cents. Authenticate with an access token from auth-api.",
        version = "1.0.0"
    ),
    components(schemas(Problem)),
    tags(
        (name = "accounting", description = "Balances, audit log, management statistics"),
        (name = "billing", description = "Billing cycles and payouts"),
        (name = "health", description = "Liveness and readiness")
    )
)]
struct ApiDoc;

fn api() -> OpenApiRouter<AppState> {
    ates_core::http::service_api(ApiDoc::openapi())
        .routes(routes!(accounting::me))
        .routes(routes!(accounting::my_transactions))
        .routes(routes!(accounting::accounts))
        .routes(routes!(accounting::account_transactions))
        .routes(routes!(accounting::management))
        .routes(idempotency::route(
            Caller::Account,
            routes!(accounting::close),
        ))
        .routes(routes!(accounting::cycles))
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
impl From<AccountingError> for ApiError {
    fn from(error: AccountingError) -> Self {
        match error {
            AccountingError::CloseInProgress => ApiError::Conflict(error.to_string()),
            AccountingError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}
