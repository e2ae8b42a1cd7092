//! auth-api's HTTP surface (docs/product.md §10) and its OpenAPI document.

pub mod accounts;
pub mod client;
pub mod keys;
pub mod sessions;

use ates_core::http::{ApiError, HttpSettings, Problem};
use ates_core::idempotency::{self, Caller, IdempotencyStore};
use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::domain::AuthError;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "aTES auth-api",
        description = "Accounts, roles and sessions of aTES. Log in, then use the access token as `Authorization: Bearer <token>` on every aTES service.",
        version = "1.0.0"
    ),
    components(schemas(Problem)),
    tags(
        (name = "accounts", description = "Sign-up, accounts created by admins, account administration, temporary passwords"),
        (name = "sessions", description = "Login, password change, refresh-token rotation, logout"),
        (name = "keys", description = "Public keys for verifying access tokens"),
        (name = "health", description = "Liveness and readiness")
    )
)]
struct ApiDoc;

fn api() -> OpenApiRouter<AppState> {
    ates_core::http::service_api(ApiDoc::openapi())
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
            AuthError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}
