//! auth-api's HTTP surface (docs/product.md §10) and its OpenAPI document.

pub mod accounts;
pub mod client;
pub mod keys;
pub mod sessions;

use ates_core::http::{ApiError, ApiInfo};
use ates_core::idempotency::{self, Caller};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::domain::AuthError;

const INFO: ApiInfo = ApiInfo {
    title: "aTES auth-api",
    description: "Accounts, roles and sessions of aTES. Log in, then use the access token as `Authorization: Bearer <token>` on every aTES service.",
    tags: &[
        (
            "accounts",
            "Sign-up, accounts created by admins, account administration, temporary passwords",
        ),
        (
            "sessions",
            "Login, password change, refresh-token rotation, logout",
        ),
        ("keys", "Public keys for verifying access tokens"),
    ],
};

/// Its routes with their OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    ates_core::http::service_api(INFO)
        .routes(idempotency::route(
            Caller::AccountOrAnonymous,
            routes!(accounts::sign_up),
        ))
        .routes(routes!(accounts::list))
        .routes(routes!(accounts::me))
        .routes(routes!(accounts::get_one, accounts::update))
        .routes(idempotency::route(
            Caller::Account,
            routes!(accounts::set_temporary_password),
        ))
        .routes(routes!(sessions::login))
        .routes(idempotency::route(
            Caller::Anonymous,
            routes!(sessions::change_password),
        ))
        .routes(routes!(sessions::refresh))
        .routes(routes!(sessions::logout))
        .routes(routes!(keys::jwks))
}

/// The one place a domain error becomes an HTTP answer.
impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::EmailTaken | AuthError::Conflict(_) => ApiError::Conflict(error.to_string()),
            AuthError::InvalidCredentials | AuthError::InvalidRefreshToken(_) => {
                ApiError::Unauthorized(error.to_string())
            }
            AuthError::Throttled { retry_after_secs }
            | AuthError::ClientThrottled { retry_after_secs } => ApiError::TooManyRequests {
                detail: error.to_string(),
                retry_after_secs,
            },
            AuthError::HashingBusy { retry_after_secs } => ApiError::Overloaded {
                detail: error.to_string(),
                retry_after_secs,
            },
            AuthError::AccountNotFound => ApiError::NotFound(error.to_string()),
            AuthError::SignUpClosed => ApiError::Refused {
                kind: "signup-closed",
                title: "Sign-up is closed",
                detail: error.to_string(),
            },
            AuthError::SignUpDomainRefused { .. } => ApiError::Refused {
                kind: "signup-domain-not-allowed",
                title: "Sign-up is not open to this email domain",
                detail: error.to_string(),
            },
            AuthError::PasswordChangeRequired => ApiError::Refused {
                kind: "password-change-required",
                title: "Password change required",
                detail: error.to_string(),
            },
            AuthError::InvalidField { field, message } => ApiError::invalid_field(field, message),
            AuthError::Internal(cause) => ApiError::internal(cause),
        }
    }
}
