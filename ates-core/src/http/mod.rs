//! The HTTP conventions every service shares (SPEC section 8): problem
//! details for every error, validated JSON bodies and queries, `/healthz`
//! and `/readyz`, request logging, CORS, a body size limit, JSON 404/405,
//! panics turned into an opaque 500, and serving with graceful shutdown.

pub mod contract;
mod extract;
pub mod health;
mod problem;
mod query;
mod server;

pub use extract::{BoundedBody, PathParam, ValidatedJson, ValidatedQuery};
pub use problem::{ApiError, FieldError, Problem};
pub use query::{DayQuery, RangeQuery};
pub use server::{
    HttpSettings, apply_conventions, apply_layers, document, openapi_of, serve,
    serve_with_background, service_api, service_app,
};

/// Implements `FromRef<$state>` for the `Authenticator` and `Readiness`
/// every service's state carries (in fields of those names), so the
/// `AuthUser` extractor and `/readyz` find them.
#[macro_export]
macro_rules! service_state {
    ($state:ty) => {
        impl ::axum::extract::FromRef<$state> for $crate::auth::Authenticator {
            fn from_ref(state: &$state) -> Self {
                state.authenticator.clone()
            }
        }

        impl ::axum::extract::FromRef<$state> for $crate::http::health::Readiness {
            fn from_ref(state: &$state) -> Self {
                state.readiness.clone()
            }
        }
    };
}
