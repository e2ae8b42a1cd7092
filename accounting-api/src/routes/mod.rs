//! accounting-api's HTTP surface (docs/product.md §10) and its OpenAPI document.

pub mod accounting;

use ates_core::http::{ApiError, ApiInfo};
use ates_core::idempotency::{self, Caller};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::domain::AccountingError;

const INFO: ApiInfo = ApiInfo {
    title: "aTES accounting-api",
    description: "Balances, the audit log, management earnings and billing cycles. Money is in integer cents. Authenticate with an access token from auth-api.",
    tags: &[
        ("accounting", "Balances, audit log, management statistics"),
        ("billing", "Billing cycles and payouts"),
    ],
};

/// Its routes with their OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    ates_core::http::service_api(INFO)
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

/// The one place a domain error becomes an HTTP answer.
impl From<AccountingError> for ApiError {
    fn from(error: AccountingError) -> Self {
        match error {
            AccountingError::CloseInProgress => ApiError::Conflict(error.to_string()),
            AccountingError::Internal(cause) => ApiError::internal(cause),
        }
    }
}
